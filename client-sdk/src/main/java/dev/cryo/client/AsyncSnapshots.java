package dev.cryo.client;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * {@link Snapshots} without blocking. Obtain it from {@link Snapshots#async()}. Create and revert
 * return an {@link Operation} (progress from the domain's job, as {@link Domains#job} reports it,
 * polled twice a second); the rest return futures. Arguments and failures are those of {@link
 * Snapshots}. Cancelling a create or revert aborts the server's job as {@link Domains#abortJob}
 * would.
 */
public interface AsyncSnapshots {
  /** @see Snapshots#create(String, SnapshotRequest, Cancellation) */
  Operation<Snapshot> create(String domain, SnapshotRequest request);

  /** @see Snapshots#create(String, String) */
  default Operation<Snapshot> create(String domain, String xml) {
    return create(domain, SnapshotRequest.builder().xml(xml).build());
  }

  /** @see Snapshots#list */
  CompletableFuture<List<Snapshot>> list(String domain, SnapshotFilter filter);

  /** @see Snapshots#get */
  CompletableFuture<Snapshot> get(String domain, String name);

  /** @see Snapshots#current */
  CompletableFuture<Snapshot> current(String domain);

  /** @see Snapshots#parent */
  CompletableFuture<Snapshot> parent(String domain, String name);

  /** @see Snapshots#children */
  CompletableFuture<List<Snapshot>> children(String domain, String name);

  /** @see Snapshots#revert(String, String, Snapshots.RevertTo, Cancellation) */
  Operation<Snapshot> revert(String domain, String name, Snapshots.RevertTo to);

  /** @see Snapshots#delete */
  CompletableFuture<List<String>> delete(String domain, String name, Snapshots.DeleteMode mode,
      boolean metadataOnly);
}
