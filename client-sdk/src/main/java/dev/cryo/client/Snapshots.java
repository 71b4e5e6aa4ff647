package dev.cryo.client;

import java.util.List;

/**
 * Domain snapshots on one Cryo server: what {@code virsh snapshot-*} does for libvirt. Every
 * method throws {@link CryoException}: NOT_FOUND for an unknown domain or snapshot,
 * INVALID_ARGUMENT for bad XML or an invalid combination, FAILED_PRECONDITION for a combination
 * the server cannot do, ALREADY_EXISTS for a name in use, PERMISSION_DENIED for an external file
 * (overlay or memory file) outside the server's image folders, ABORTED when another job holds
 * the domain, CANCELLED when a create or revert was aborted ({@link Domains#abortJob} or a
 * {@link Cancellation}).
 *
 * <p>External memory ({@code SnapshotRequest.memory(EXTERNAL, file)}) is saved as a libvirt save
 * image; deleting an external snapshot merges its overlays where libvirt would.
 */
public interface Snapshots {
  /**
   * The same calls without blocking: create and revert as an {@link Operation} with progress,
   * cancel and a {@code CompletableFuture} result; the rest as futures.
   */
  AsyncSnapshots async();

  /** Creates a snapshot of domain {@code domain}. */
  default Snapshot create(String domain, SnapshotRequest request) {
    return create(domain, request, new Cancellation());
  }

  /**
   * Creates a snapshot; {@code cancellation} (from another thread) cancels the call, which makes
   * the server abort the job as {@link Domains#abortJob} would: the call fails with {@code
   * CANCELLED}, nothing is listed, no file is left and the guest goes on as it was. Only a
   * snapshot with external memory can stop midway; others finish first and are then undone.
   */
  Snapshot create(String domain, SnapshotRequest request, Cancellation cancellation);

  /** Creates a snapshot from {@code <domainsnapshot>} XML with default flags. */
  default Snapshot create(String domain, String xml) {
    return create(domain, SnapshotRequest.builder().xml(xml).build());
  }

  /**
   * Snapshots selected by {@code filter}, parents before children (siblings oldest first). Asks
   * for as many pages as there are (each one call, 1000 snapshots at most).
   */
  List<Snapshot> list(String domain, SnapshotFilter filter);

  /**
   * One page of {@link #list}: for callers that page themselves.
   *
   * @param pageSize the most snapshots to return; 0 for the server's default (1000, also its
   *     maximum)
   * @param pageToken empty (or null) for the first page, else {@link Page#nextPageToken} of the
   *     previous page, asked with the same domain and filter
   * @throws CryoException INVALID_ARGUMENT for a negative size or a token from another listing
   */
  Page<Snapshot> listPage(String domain, SnapshotFilter filter, int pageSize, String pageToken);

  Snapshot get(String domain, String name);

  /** The current snapshot; NOT_FOUND if there is none. */
  Snapshot current(String domain);

  /** The parent; NOT_FOUND for a root. */
  Snapshot parent(String domain, String name);

  /** Direct children of {@code name}, oldest first, every page of them. */
  List<Snapshot> children(String domain, String name);

  /** How a revert ends. */
  enum RevertTo { AS_SNAPSHOT, RUNNING, PAUSED }

  /** Reverts the domain to snapshot {@code name}. */
  default Snapshot revert(String domain, String name, RevertTo to) {
    return revert(domain, name, to, new Cancellation());
  }

  /**
   * Reverts; {@code cancellation} cancels the call, which aborts the load of an external memory
   * image ({@code CANCELLED}; the domain is left shut off on its previous definition).
   */
  Snapshot revert(String domain, String name, RevertTo to, Cancellation cancellation);

  /** What a delete removes. */
  enum DeleteMode { ONE, WITH_CHILDREN, CHILDREN_ONLY }

  /**
   * Deletes snapshots.
   *
   * @param metadataOnly forget the metadata but leave the data in the images
   * @return the names deleted
   */
  List<String> delete(String domain, String name, DeleteMode mode, boolean metadataOnly);
}
