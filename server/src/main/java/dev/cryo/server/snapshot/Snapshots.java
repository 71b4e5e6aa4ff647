package dev.cryo.server.snapshot;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.AbortSignal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.FailPoints;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.jobs.SaveJob;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.store.ImageRoots;
import java.util.List;

/**
 * libvirt's domain snapshots on QEMU: create, list, revert, delete, with metadata under {@code
 * STATE/domains/NAME/snapshots/}.
 *
 * <p>Every operation that changes a domain or its snapshots holds the domain's job ({@link
 * Domain#beginJob}): a second one on the same domain waits up to 5 s and then fails with ABORTED
 * naming the job in progress; other domains are not blocked. Reads take only the lock of the
 * snapshot trees.
 *
 * <p>How: internal snapshots of a running domain are QMP {@code snapshot-save} / {@code
 * snapshot-load} / {@code snapshot-delete} jobs; of a shut-off one, {@code qemu-img snapshot}.
 * External disk snapshots are qcow2 overlays made with {@code qemu-img create -b}, switched to by
 * a QMP {@code transaction} of {@code blockdev-snapshot} when the domain runs; the domain
 * definition then names the overlay, so its next start uses it. External memory is a
 * libvirt-format save image written by the save path ({@link SaveJob}) while the guest is
 * paused, with the disks switched to their overlays at that same paused instant; reverting it
 * restores the image on fresh overlays. Deleting an external snapshot merges its overlays
 * ({@code block-commit} or {@code qemu-img commit}).
 *
 * <p>External files (overlays, memory files) must lie inside the server's image folders ({@link
 * ImageRoots}); anything else is PERMISSION_DENIED.
 *
 * <p>Create and revert report progress and can be aborted ({@link Domain#jobInfo}, {@link
 * Domain#abortJob}, or an {@link AbortSignal} fired when the client cancels).
 *
 * <p>This class is the front the gRPC adapter calls. The work is done by package-private parts:
 * {@code SnapshotCreate}, {@code SnapshotRevert} and {@code SnapshotDelete} run the operations;
 * {@code InternalSnapshots} and {@code ExternalSnapshots} are the two strategies they pick from
 * ({@link SnapshotPlan} decides which); {@code SnapshotMerge} merges external chains on delete;
 * {@code SnapshotRecovery} ends what a killed server left half done; {@code SnapshotTrees} holds
 * each domain's tree and its lock.
 */
public final class Snapshots {
  private final Domains domains;
  /** The domains' trees; their lock guards every tree. */
  private final SnapshotTrees trees;
  private final SnapshotCreate creation;
  private final SnapshotRevert reversion;
  private final SnapshotDelete deletion;

  public Snapshots(Domains domains, QemuImg qemuImg, ImageJobs images) {
    this(domains, qemuImg, images, (caller, domain, snapshot) -> {}, FailPoints.NONE);
  }

  /**
   * @param images the save and restore jobs, for external memory (the memory file is a save
   *     image)
   * @param revertGuard asked before every revert; throws to refuse it (checkpoints refuse a
   *     revert that would invalidate their dirty bitmaps, as libvirt does)
   * @param failPoints where a test may stop the server mid-create
   */
  public Snapshots(
      Domains domains,
      QemuImg qemuImg,
      ImageJobs images,
      RevertGuard revertGuard,
      FailPoints failPoints) {
    this.domains = domains;
    InternalSnapshots internal = new InternalSnapshots(domains, qemuImg);
    ExternalSnapshots external = new ExternalSnapshots(domains, qemuImg, images, failPoints);
    this.trees = new SnapshotTrees(domains, new SnapshotRecovery(domains, internal::deleteData));
    this.creation = new SnapshotCreate(domains, qemuImg, trees, internal, external);
    this.reversion = new SnapshotRevert(domains, trees, internal, external, revertGuard);
    this.deletion = new SnapshotDelete(domains, trees, internal,
        new SnapshotMerge(domains, qemuImg, trees));
  }

  /** Vetoes a revert by throwing a {@link CryoException} that says what to do first. */
  @FunctionalInterface
  public interface RevertGuard {
    void check(Principal caller, String domainName, String snapshotName);
  }

  /** libvirt's virDomainSnapshotCreateXML flags that Cryo honours. */
  public record CreateFlags(boolean diskOnly, boolean halt, boolean redefine, boolean current,
      boolean noMetadata, boolean reuseExternal, boolean atomic, boolean live, boolean validate) {
    public static final CreateFlags NONE =
        new CreateFlags(false, false, false, false, false, false, false, false, false);
  }

  /** Revert flags: end running, end paused (default: as the snapshot was), force. */
  public record RevertFlags(boolean running, boolean paused, boolean force) {
    public static final RevertFlags NONE = new RevertFlags(false, false, false);

    /** Whether a revert to {@code snap} ends with the guest running. */
    boolean endsRunning(SnapshotDef snap) {
      return running || (!paused && "running".equals(snap.state()));
    }
  }

  /** What a delete removes. */
  public enum DeleteMode {
    /** The snapshot; its children move to its parent. */
    ONE,
    /** The snapshot and all its descendants. */
    WITH_CHILDREN,
    /** Only its descendants. */
    CHILDREN_ONLY
  }

  // ---- reads ------------------------------------------------------------------------------------

  public List<SnapshotDef> list(Principal caller, String domainName, SnapshotFilter filter) {
    synchronized (trees) {
      return trees.of(domains.get(caller, domainName)).list(filter);
    }
  }

  public SnapshotDef get(Principal caller, String domainName, String name) {
    synchronized (trees) {
      return trees.of(domains.get(caller, domainName)).get(name);
    }
  }

  /** The current snapshot, or null if there is none. */
  public SnapshotDef current(Principal caller, String domainName) {
    synchronized (trees) {
      SnapshotTree tree = trees.of(domains.get(caller, domainName));
      return tree.current() == null ? null : tree.get(tree.current());
    }
  }

  public boolean isCurrent(Principal caller, String domainName, String name) {
    synchronized (trees) {
      return name.equals(trees.of(domains.get(caller, domainName)).current());
    }
  }

  /** Direct children of a snapshot. */
  public List<SnapshotDef> children(Principal caller, String domainName, String name) {
    synchronized (trees) {
      SnapshotTree tree = trees.of(domains.get(caller, domainName));
      tree.get(name);
      return tree.children(name);
    }
  }

  // ---- create -----------------------------------------------------------------------------------

  /**
   * Creates (or, with {@code redefine}, records) a snapshot from {@code <domainsnapshot>} XML.
   *
   * @return the snapshot as stored
   * @throws InvalidArgumentException for bad XML or an invalid combination (the message names it)
   * @throws FailedPreconditionException for a combination Cryo or QEMU cannot do
   * @throws AlreadyExistsException for a name in use
   * @throws PermissionDeniedException for an external file outside the allowed folders
   */
  public SnapshotDef create(Principal caller, String domainName, String xml, CreateFlags flags) {
    return create(caller, domainName, xml, flags, new AbortSignal());
  }

  /**
   * As {@link #create(Principal, String, String, CreateFlags)}; {@code abort} (or
   * AbortDomainJob) stops a create in progress: it then fails with CANCELLED, lists nothing,
   * leaves no file and the guest goes on as it was.
   *
   * @throws CancelledException if aborted
   */
  public SnapshotDef create(Principal caller, String domainName, String xml, CreateFlags flags,
      AbortSignal abort) {
    return creation.create(caller, domainName, xml, flags, abort);
  }

  // ---- revert -----------------------------------------------------------------------------------

  /**
   * Reverts the domain to snapshot {@code name}: internal ones in place (memory and disks);
   * external ones on fresh overlays over the snapshot's files, so later snapshots stay intact.
   */
  public SnapshotDef revert(Principal caller, String domainName, String name, RevertFlags flags) {
    return revert(caller, domainName, name, flags, new AbortSignal());
  }

  /**
   * As {@link #revert(Principal, String, String, RevertFlags)}; {@code abort} (or
   * AbortDomainJob) stops the load of an external memory image, which then fails with
   * CANCELLED and leaves the domain shut off on its previous definition.
   */
  public SnapshotDef revert(Principal caller, String domainName, String name, RevertFlags flags,
      AbortSignal abort) {
    return reversion.revert(caller, domainName, name, flags, abort);
  }

  // ---- delete -----------------------------------------------------------------------------------

  /**
   * Deletes snapshot {@code name} as {@code mode} says. Unless {@code metadataOnly}, internal
   * snapshots are removed from the qcow2 images and external ones are merged, as libvirt 9.x
   * does: each overlay is committed into the file the snapshot froze (QMP {@code block-commit}
   * while the domain runs, {@code qemu-img commit} when it is off), the overlay's own overlay or
   * the disk itself is pointed at that file, the overlay and the memory file are removed.
   *
   * @return the names deleted
   * @throws FailedPreconditionException where libvirt refuses to merge (the message says why:
   *     children with it, several children, an internal child, an overlay no longer in the disk's
   *     current chain)
   */
  public List<String> delete(Principal caller, String domainName, String name, DeleteMode mode,
      boolean metadataOnly) {
    return deletion.delete(caller, domainName, name, mode, metadataOnly);
  }

  // ---- recovery -------------------------------------------------------------------------------

  /**
   * Finishes what a killed server left half done, at start: the snapshots it was creating, and a
   * guest it had paused for one. Without this a guest paused for an external snapshot's memory
   * save stays paused until someone touches its snapshots.
   */
  public void recover() {
    for (Domain domain : domains.all()) {
      synchronized (trees) {
        trees.of(domain);
      }
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

}
