package dev.cryo.server.grpc;

import dev.cryo.server.checkpoint.Backups;
import dev.cryo.server.checkpoint.Checkpoints;
import dev.cryo.server.domain.Domains;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import java.time.Clock;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

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
    Checkpoints checkpoints = new Checkpoints(domains, Clock.systemUTC());
    // Backup threads hold a domain's job for a whole backup and block on QEMU and on slow
    // clients, so they get their own pool rather than gRPC's. Daemon threads: the server's
    // shutdown cancels the calls, which ends the backups.
    AtomicInteger backupThreads = new AtomicInteger();
    ExecutorService backupExecutor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "cryo-backup-" + backupThreads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    Backups backups = new Backups(domains, checkpoints, backupExecutor);
    builder.addService(ServerInterceptors.intercept(new CheckpointGrpcService(checkpoints),
        errors));
    builder.addService(ServerInterceptors.intercept(
        new BackupGrpcService(backups, backupExecutor), errors));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("cryo.v1.DomainService", ServingStatus.SERVING);
    health.setStatus("cryo.v1.CheckpointService", ServingStatus.SERVING);
    health.setStatus("cryo.v1.BackupService", ServingStatus.SERVING);
    builder.addService(health.getHealthService());
    builder.addService(ProtoReflectionService.newInstance());
  }
}
