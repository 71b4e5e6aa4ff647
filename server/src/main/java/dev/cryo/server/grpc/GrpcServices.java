package dev.cryo.server.grpc;

import dev.cryo.server.auth.AccessFile;
import dev.cryo.server.checkpoint.Backups;
import dev.cryo.server.checkpoint.Checkpoints;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.snapshot.Snapshots;
import io.grpc.ServerInterceptor;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.util.ArrayList;
import java.util.List;

/**
 * Wires Cryo's services into a gRPC server builder: the cryo.v1 services behind one interceptor
 * chain (exception mapping now; authentication plugs in here, in front of every service, without
 * touching them), plus the standard health and reflection services so stock tools (grpcurl,
 * grpc_health_probe) work.
 */
public final class GrpcServices {
  private GrpcServices() {}

  /**
   * Registers every service.
   *
   * @param access who may call; null turns authentication off (loopback and Unix socket only)
   */
  public static void register(ServerBuilder<?> builder, Domains domains, AccessFile access) {
    // Interceptors run last-added first: authentication, then exception mapping.
    List<ServerInterceptor> chain = new ArrayList<>();
    chain.add(new ExceptionInterceptor());
    if (access != null) {
      chain.add(new AuthInterceptor(access));
    }
    DomainGrpcService domainService = new DomainGrpcService(domains,
        (name, paused, forceBoot) -> domains.start(name, paused));
    builder.addService(ServerInterceptors.intercept(domainService, chain));
    builder.addService(ServerInterceptors.intercept(
        new SnapshotGrpcService(core.snapshots()), chain));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("cryo.v1.DomainService", ServingStatus.SERVING);
    health.setStatus("cryo.v1.SnapshotService", ServingStatus.SERVING);
    builder.addService(ServerInterceptors.intercept(
        new CheckpointGrpcService(core.checkpoints()), chain));
    builder.addService(ServerInterceptors.intercept(
        new BackupGrpcService(core.backups(), core.backupExecutor()), chain));
    health.setStatus("cryo.v1.CheckpointService", ServingStatus.SERVING);
    health.setStatus("cryo.v1.BackupService", ServingStatus.SERVING);
    builder.addService(health.getHealthService());
    builder.addService(ServerInterceptors.intercept(ProtoReflectionServiceV1.newInstance(),
        chain));
    // v1alpha too: older grpcurl and Postman versions ask only for it.
    @SuppressWarnings("deprecation")
    io.grpc.BindableService alpha = io.grpc.protobuf.services.ProtoReflectionService.newInstance();
    builder.addService(ServerInterceptors.intercept(alpha, chain));
  }
}
