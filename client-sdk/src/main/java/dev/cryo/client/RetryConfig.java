package dev.cryo.client;

import dev.cryo.api.v1.BackupServiceGrpc;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import io.grpc.MethodDescriptor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The gRPC service config the client's channel runs with: reads that are safe to repeat are
 * retried by gRPC itself while the server is UNAVAILABLE (restarting, or the connection broke),
 * with exponential backoff, inside the call's deadline. Calls that change state are never retried
 * here: a start that reached the server and then lost its answer must not run twice.
 *
 * <p>A new service adds its read methods to {@link #IDEMPOTENT_READS}.
 */
final class RetryConfig {
  /** Reads: retrying them cannot change anything on the server. */
  static final List<MethodDescriptor<?, ?>> IDEMPOTENT_READS = List.of(
      DomainServiceGrpc.getGetDomainMethod(),
      DomainServiceGrpc.getListDomainsMethod(),
      DomainServiceGrpc.getGetDomainXmlMethod(),
      DomainServiceGrpc.getGetDomainJobMethod(),
      ImageServiceGrpc.getGetImageInfoMethod(),
      ImageServiceGrpc.getGetManagedSaveMethod(),
      SnapshotServiceGrpc.getListSnapshotsMethod(),
      SnapshotServiceGrpc.getGetSnapshotMethod(),
      SnapshotServiceGrpc.getGetCurrentSnapshotMethod(),
      SnapshotServiceGrpc.getGetSnapshotParentMethod(),
      SnapshotServiceGrpc.getListSnapshotChildrenMethod(),
      CheckpointServiceGrpc.getGetCheckpointMethod(),
      CheckpointServiceGrpc.getListCheckpointsMethod(),
      CheckpointServiceGrpc.getGetCheckpointParentMethod(),
      CheckpointServiceGrpc.getGetCurrentCheckpointMethod(),
      BackupServiceGrpc.getGetBackupJobMethod());

  /** Attempts in all, the first one included. */
  static final int MAX_ATTEMPTS = 5;

  private RetryConfig() {}

  /**
   * The service config as gRPC's JSON-like map (numbers must be {@code Double}, as a JSON parser
   * would produce).
   */
  static Map<String, ?> serviceConfig() {
    List<Map<String, ?>> names = new ArrayList<>();
    for (MethodDescriptor<?, ?> m : IDEMPOTENT_READS) {
      names.add(Map.of("service", m.getServiceName(), "method", m.getBareMethodName()));
    }
    Map<String, ?> retryPolicy = Map.of(
        "maxAttempts", (double) MAX_ATTEMPTS,
        "initialBackoff", "0.2s",
        "maxBackoff", "2s",
        "backoffMultiplier", 2.0,
        "retryableStatusCodes", List.of("UNAVAILABLE"));
    return Map.of("methodConfig", List.of(Map.of("name", names, "retryPolicy", retryPolicy)));
  }
}
