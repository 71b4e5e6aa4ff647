package dev.cryo.server.grpc;

import dev.cryo.server.domain.Domains;
import dev.cryo.server.image.SaveRestore;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import java.util.concurrent.ExecutorService;

/**
 * Wires Cryo's services into a gRPC server builder: the cryo.v1 services behind one interceptor
 * chain (exception mapping now; authentication plugs in here, in front of every service, without
 * touching them), plus the standard health and reflection services so stock tools (grpcurl,
 * grpc_health_probe) work.
 */
public final class GrpcServices {
  private GrpcServices() {}

  public static void register(ServerBuilder<?> builder, Domains domains) {
    register(builder, domains, null, null);
  }

  /**
   * As {@link #register(ServerBuilder, Domains)}, plus cryo.v1.ImageService when {@code images}
   * is not null: its work runs on {@code imageExecutor} (owned by the caller), and StartDomain
   * restores a managed save.
   */
  public static void register(ServerBuilder<?> builder, Domains domains, SaveRestore images,
      ExecutorService imageExecutor) {
    ExceptionInterceptor errors = new ExceptionInterceptor();
    ImageGrpcService imageService = images == null ? null
        : new ImageGrpcService(images, imageExecutor);
    DomainGrpcService domainService = new DomainGrpcService(domains, imageService != null
        ? imageService.starter() : (name, paused, forceBoot) -> domains.start(name, paused));
    if (imageService != null) {
      builder.addService(ServerInterceptors.intercept(imageService, errors));
    }
    builder.addService(ServerInterceptors.intercept(domainService, errors));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("cryo.v1.DomainService", ServingStatus.SERVING);
    if (imageService != null) {
      health.setStatus("cryo.v1.ImageService", ServingStatus.SERVING);
    }
    builder.addService(health.getHealthService());
    builder.addService(ProtoReflectionService.newInstance());
  }
}
