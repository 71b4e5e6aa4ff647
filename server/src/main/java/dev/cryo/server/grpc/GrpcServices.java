package dev.cryo.server.grpc;

import dev.cryo.server.auth.AccessFile;
import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.util.ArrayList;
import java.util.List;

/**
 * Wires Cryo's services into a gRPC server builder: the cryo.v1 services behind one interceptor
 * chain (authentication, then exception mapping), plus the standard health and reflection
 * services so stock tools (grpcurl, grpc_health_probe) work.
 */
public final class GrpcServices {
  /**
   * HTTP/2 receive window per stream: HTTP/2's default 1 MiB holds an image stream to one 1 MiB
   * chunk in flight. It also bounds what one restore stream can buffer here unread.
   */
  public static final int FLOW_CONTROL_WINDOW = 8 << 20;

  private GrpcServices() {}

  /**
   * Registers every service.
   *
   * @param access who may call; null turns authentication off (loopback and Unix socket only):
   *     every caller is then {@link dev.cryo.server.auth.Principal#LOCAL}
   */
  public static void register(ServerBuilder<?> builder, CoreServices core, AccessFile access) {
    // Interceptors run last-added first: authentication, then exception mapping.
    List<ServerInterceptor> chain = new ArrayList<>();
    chain.add(new ExceptionInterceptor());
    // Either way the call then carries a principal; an adapter refuses a call without one.
    chain.add(access != null ? new AuthInterceptor(access) : CallPrincipal.localInterceptor());
    ImageGrpcService images = new ImageGrpcService(core.images(), core.imageExecutor(),
        core.streamLimits());
    List<BindableService> services = List.of(
        new DomainGrpcService(core.domains(), images.starter()),
        images.aliasing(),
        new SnapshotGrpcService(core.snapshots()),
        new CheckpointGrpcService(core.checkpoints()),
        new BackupGrpcService(core.backups(), core.backupExecutor()),
        ProtoReflectionServiceV1.newInstance(),
        // v1alpha too: older grpcurl and Postman versions ask only for it.
        reflectionV1Alpha());
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    for (BindableService service : services) {
      builder.addService(ServerInterceptors.intercept(service, chain));
      health.setStatus(service.bindService().getServiceDescriptor().getName(),
          ServingStatus.SERVING);
    }
    builder.addService(health.getHealthService());
  }

  @SuppressWarnings("deprecation")
  private static BindableService reflectionV1Alpha() {
    return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
  }
}
