package dev.cryo.server.grpc;

import dev.cryo.server.domain.Domains;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.snapshot.Snapshots;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;

/**
 * Wires Cryo's services into a gRPC server builder: the cryo.v1 services behind one interceptor
 * chain (exception mapping now; authentication plugs in here, in front of every service, without
 * touching them), plus the standard health and reflection services so stock tools (grpcurl,
 * grpc_health_probe) work.
 */
public final class GrpcServices {
  private GrpcServices() {}

  public static void register(ServerBuilder<?> builder, Domains domains) {
    ExceptionInterceptor errors = new ExceptionInterceptor();
    DomainGrpcService domainService = new DomainGrpcService(domains,
        (name, paused, forceBoot) -> domains.start(name, paused));
    builder.addService(ServerInterceptors.intercept(domainService, errors));
    Snapshots snapshots = new Snapshots(domains, QemuImg.besides(domains.qemuBinary()));
    builder.addService(ServerInterceptors.intercept(new SnapshotGrpcService(snapshots), errors));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("cryo.v1.DomainService", ServingStatus.SERVING);
    health.setStatus("cryo.v1.SnapshotService", ServingStatus.SERVING);
    builder.addService(health.getHealthService());
    builder.addService(ProtoReflectionService.newInstance());
  }
}
