package dev.cryo.server.grpc;

import dev.cryo.server.auth.AuditLog;
import dev.cryo.server.auth.ReloadingAccessFile;
import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * Wires Cryo's services into a gRPC server builder: the cryo.v1 services behind one interceptor
 * chain (audit, revocation of running streams, authentication, then exception mapping), plus
 * the standard health and reflection services so stock tools (grpcurl, grpc_health_probe) work.
 */
public final class GrpcServices {
  /**
   * HTTP/2 receive window per stream: grpc-java's default 1 MiB holds a restore stream to four
   * 256 KiB chunks in flight. It also bounds what one restore stream can buffer here unread.
   */
  public static final int FLOW_CONTROL_WINDOW = 8 << 20;

  private GrpcServices() {}

  /**
   * Registers every service.
   *
   * @param access who may call; null turns authentication off (loopback and Unix socket only):
   *     every caller is then {@link dev.cryo.server.auth.Principal#LOCAL}
   * @param audit where to record calls that change state or read guest bytes; null for nowhere
   */
  public static void register(ServerBuilder<?> builder, CoreServices core,
      ReloadingAccessFile access, AuditLog audit) {
    List<ServerInterceptor> chain = chain(access, audit, List.of(core.domains().stateDir()));
    ImageGrpcService images = new ImageGrpcService(core.images(), core.imageExecutor(),
        core.streamLimits(), core.stallTimer());
    List<BindableService> services = List.of(
        new DomainGrpcService(core.domains(), core.images().managed()::start,
            core.streamLimits(), core.stallTimer()),
        images.aliasing(),
        new SnapshotGrpcService(core.snapshots()),
        new CheckpointGrpcService(core.checkpoints()),
        new BackupGrpcService(core.backups(), core.backupExecutor(), core.streamLimits(),
            core.stallTimer()),
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

  /** The interceptors every cryo.v1 service sits behind, in {@code ServerInterceptors} order. */
  static List<ServerInterceptor> chain(
      ReloadingAccessFile access, AuditLog audit, List<Path> privateFolders) {
    // Interceptors run last-added first: audit (outermost, so it records refused calls too),
    // revocation, authentication, then exception mapping.
    List<ServerInterceptor> chain = new ArrayList<>();
    chain.add(new ExceptionInterceptor(privateFolders));
    // Either way the call then carries a principal; an adapter refuses a call without one.
    if (access != null) {
      chain.add(new AuthInterceptor(access));
      chain.add(new RevocationInterceptor(access));
    } else {
      chain.add(CallPrincipal.localInterceptor());
    }
    if (audit != null) {
      chain.add(new AuditInterceptor(audit, access, Clock.systemUTC()));
    }
    return chain;
  }

  @SuppressWarnings("deprecation")
  private static BindableService reflectionV1Alpha() {
    return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
  }
}
