package dev.cryo.client;

import java.util.List;

/**
 * Checkpoints of domains: libvirt's domaincheckpoint on persistent dirty bitmaps, the starting
 * points of incremental {@link Backups}. Every method throws {@link CryoException}: NOT_FOUND for
 * an unknown domain or checkpoint, ALREADY_EXISTS for a taken name, INVALID_ARGUMENT for bad XML
 * or a bitmap on a raw disk, FAILED_PRECONDITION when the disks do not allow it, ABORTED while a
 * backup holds the domain.
 */
public interface Checkpoints {
  /** The same calls without blocking, each returning a {@code CompletableFuture}. */
  AsyncCheckpoints async();
  /** What {@link #delete(String, String, DeleteMode, boolean)} removes. */
  enum DeleteMode {
    /** The checkpoint; its children move up to its parent. */
    ONE,
    /** The checkpoint and its descendants. */
    WITH_CHILDREN,
    /** The descendants only. */
    CHILDREN_ONLY
  }

  /**
   * Which checkpoints {@link #list(String, Filter)} returns.
   *
   * @param rootsOnly only roots (with {@code parent}: only its direct children)
   * @param leavesOnly only leaves
   * @param noLeaves only checkpoints with children
   * @param parent list the descendants of this checkpoint, or null for the whole tree
   */
  record Filter(boolean rootsOnly, boolean leavesOnly, boolean noLeaves, String parent) {
    public static final Filter ALL = new Filter(false, false, false, null);
  }

  /**
   * Creates a checkpoint from {@code <domaincheckpoint>} XML on a running or stopped domain;
   * {@code "<domaincheckpoint/>"} covers every writable qcow2 disk.
   */
  Checkpoint create(String domain, String xml);

  /** Restores checkpoint metadata from the XML {@link #xml} returned; the bitmaps must exist. */
  Checkpoint redefine(String domain, String xml);

  Checkpoint get(String domain, String name);

  /** Like {@link #get}, with each disk's bytes written since the checkpoint (running domain). */
  Checkpoint getWithSize(String domain, String name);

  /** The checkpoint's XML, with the domain definition unless {@code excludeDomain}. */
  String xml(String domain, String name, boolean excludeDomain);

  /** All checkpoints, parents before children. */
  List<Checkpoint> list(String domain);

  /**
   * The checkpoints {@code filter} selects, parents before children (siblings oldest first). Asks
   * for as many pages as there are (each one call, 1000 checkpoints at most).
   */
  List<Checkpoint> list(String domain, Filter filter);

  /**
   * One page of {@link #list(String, Filter)}: for callers that page themselves.
   *
   * @param pageSize the most checkpoints to return; 0 for the server's default (1000, also its
   *     maximum)
   * @param pageToken empty (or null) for the first page, else {@link Page#nextPageToken} of the
   *     previous page, asked with the same domain and filter
   * @throws CryoException INVALID_ARGUMENT for a negative size or a token from another listing
   */
  Page<Checkpoint> listPage(String domain, Filter filter, int pageSize, String pageToken);

  /** Direct children of {@code name}. */
  List<Checkpoint> children(String domain, String name);

  /** @throws CryoException NOT_FOUND for a root */
  Checkpoint parent(String domain, String name);

  /** @throws CryoException NOT_FOUND when the domain has no checkpoint */
  Checkpoint current(String domain);

  /** Deletes one checkpoint, merging its bitmaps into its parent's; returns the names deleted. */
  List<String> delete(String domain, String name);

  List<String> delete(String domain, String name, DeleteMode mode, boolean metadataOnly);
}
