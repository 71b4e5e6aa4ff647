package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.failure;
import static dev.cryo.server.snapshot.TargetDisks.disk;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.AbortSignal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.FailPoints;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.jobs.SaveJob;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotPlan.Decision;
import dev.cryo.server.snapshot.SnapshotPlan.Verdict;
import dev.cryo.server.store.ImageRoots;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * libvirt's domain snapshots on QEMU: create, list, revert, delete, with metadata under {@code
 * STATE/domains/NAME/snapshots/}.
 *
 * <p>Every operation that changes a domain or its snapshots holds the domain's job ({@link
 * Domain#beginJob}): a second one on the same domain waits up to 5 s and then fails with ABORTED
 * naming the job in progress; other domains are not blocked. Reads take only this object's lock.
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
 */
public final class Snapshots {
  private static final Logger log = LoggerFactory.getLogger(Snapshots.class);
  private final Domains domains;
  private final QemuImg qemuImg;
  /** The domains' trees; their lock guards every tree. */
  private final SnapshotTrees trees;
  private final InternalSnapshots internal;
  private final ExternalSnapshots external;
  private final SnapshotDelete deletion;

  private final RevertGuard revertGuard;
  private final ImageJobs images;
  private final FailPoints failPoints;

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
    this.failPoints = failPoints;
    this.internal = new InternalSnapshots(domains, qemuImg);
    this.external = new ExternalSnapshots(domains, qemuImg, images, failPoints);
    this.trees = new SnapshotTrees(domains, new SnapshotRecovery(domains,
        internal::deleteData));
    this.deletion = new SnapshotDelete(domains, trees, internal,
        new SnapshotMerge(domains, qemuImg, trees));
    this.qemuImg = qemuImg;
    this.images = images;
    this.revertGuard = revertGuard;
  }

  /** Vetoes a revert by throwing a CryoException that says what to do first. */
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
    Domain domain = domains.get(caller, domainName);
    SnapshotDef def = SnapshotXml.parse(xml, flags.redefine());
    try (Domain.Job job = domain.beginJob(caller, "snapshot create")) {
      abort.attach(job);
      SnapshotTree tree;
      synchronized (trees) {
        tree = trees.of(domain);
      }
      if (flags.redefine()) {
        return redefine(domain, tree, def, flags);
      }
      Instant now = Instant.now();
      if (def.name == null) {
        def.name = Long.toString(now.getEpochSecond());
      }
      synchronized (trees) {
        if (tree.contains(def.name)) {
          throw new CryoException(
                  Reason.SNAPSHOT_EXISTS,
                  "domain '"
                      + domainName
                      + "' already has a snapshot "
                      + "named '"
                      + def.name
                      + "'; pick another name or delete that one")
              .with("domain", domainName)
              .with("snapshot", def.name);
        }
      }
      RunningQemu running = domain.running();
      boolean online = running != null;
      Decision d = SnapshotPlan.decide(online, SnapshotXml.memoryRequest(def),
          SnapshotXml.diskRequest(def, domain.def().disks().size()), flags.diskOnly());
      if (d.verdict() == Verdict.INVALID) {
        throw new InvalidArgumentException(d.message());
      }
      if (d.verdict() == Verdict.UNSUPPORTED) {
        throw new FailedPreconditionException(d.message());
      }
      if (d.memory() == Location.EXTERNAL && def.memoryFile() == null) {
        throw new InvalidArgumentException("external memory snapshots require a file: add "
            + "file='/path/in/an/image/folder' to <memory snapshot='external'/>");
      }
      DomainDef domainDef = domain.def();
      SnapshotXml.align(def, domainDef, d.memory(), d.disk());
      for (SnapshotDef.Disk sd : def.disks()) {
        if (sd.location() != Location.NO && "block".equals(disk(domainDef, sd.name()).getType())) {
          throw new FailedPreconditionException("disk " + sd.name() + " is a host block device "
              + "(type='block'), which Cryo does not snapshot yet; leave it out with "
              + "<disk name='" + sd.name() + "' snapshot='no'/> in <disks>");
        }
      }
      if (def.disks().stream().noneMatch(x -> x.location() != Location.NO)
          && d.memory() != Location.INTERNAL) {
        throw new InvalidArgumentException("invalid combination: nothing to snapshot; domain '"
            + domainName + "' has no writable disk");
      }
      if (d.memory() == Location.INTERNAL && def.internalDisks().isEmpty()) {
        throw new FailedPreconditionException("an internal snapshot with memory needs at least "
            + "one writable qcow2 disk to hold it; domain '" + domainName + "' has none");
      }
      checkExternalFiles(def, domainDef, flags.reuseExternal(), domains.imageRoots());
      def.creationTime = now.getEpochSecond();
      def.state = !online ? "shutoff"
          : d.memory() == Location.NO ? "disk-snapshot"
          : domain.state() == DomainState.PAUSED ? "paused" : "running";
      synchronized (trees) {
        def.setParentName(tree.current());
      }
      SnapshotStore store = trees.store(domain);
      if (!flags.noMetadata()) {
        store.writePending(def);
      }
      job.progress(d.method() == SnapshotPlan.Method.SAVEVM ? "memory+disks" : "disks", 0, 0);
      try {
        switch (d.method()) {
          case QEMU_IMG -> createOffline(caller, domain, def, flags);
          case SAVEVM -> internal.create(domain, running, def);
          case TRANSACTION -> external.createDisks(caller, domain, running, def, flags);
          case MIGRATE, MIGRATE_TRANSACTION ->
              external.createWithMemory(caller, domain, job, running, def, flags);
          default -> throw new FailedPreconditionException("method " + d.method()
              + " is not available");
        }
      } catch (RuntimeException e) {
        if (!flags.noMetadata()) {
          store.clearPending(def.name);
        }
        throw e;
      }
      if (!flags.noMetadata()) {
        store.save(def);
        store.setCurrent(def.name);
        store.clearPending(def.name);
        synchronized (trees) {
          tree.put(def);
          tree.setCurrent(def.name);
        }
      }
      if (flags.halt() && domain.running() != null) {
        domains.destroy(caller, domainName, false);
      }
      return def.copy();
    }
  }

  private SnapshotDef redefine(Domain domain, SnapshotTree tree, SnapshotDef def,
      CreateFlags flags) {
    synchronized (trees) {
      String parent = def.parentName();
      if (parent != null && !tree.contains(parent)) {
        throw new InvalidArgumentException("parent snapshot '" + parent + "' of redefined "
            + "snapshot '" + def.name + "' does not exist; redefine the parent first");
      }
      if (parent != null && tree.isSelfOrAncestor(def.name, parent)) {
        throw new InvalidArgumentException("redefining '" + def.name + "' with parent '"
            + parent + "' would make a cycle");
      }
    }
    if (def.creationTime == null) {
      def.creationTime = Instant.now().getEpochSecond();
    }
    if (def.domain == null) {
      def.domain = domain.def().copy();
    }
    SnapshotStore store = trees.store(domain);
    store.save(def);
    if (flags.current()) {
      store.setCurrent(def.name);
    }
    synchronized (trees) {
      tree.put(def);
      if (flags.current()) {
        tree.setCurrent(def.name);
      }
    }
    return def.copy();
  }

  private void createOffline(Principal caller, Domain domain, SnapshotDef def, CreateFlags flags) {
    List<Path> done = new ArrayList<>();
    DomainDef newDef = domain.def().copy();
    boolean external = false;
    try {
      for (SnapshotDef.Disk sd : def.disks()) {
        DiskDef dd = disk(newDef, sd.name());
        Path source = Path.of(dd.getSourceFile());
        if (sd.location() == Location.INTERNAL) {
          qemuImg.snapshotCreate(source, def.name);
          done.add(source);
        } else if (sd.location() == Location.EXTERNAL) {
          Path overlay = Path.of(sd.file());
          if (!flags.reuseExternal()) {
            qemuImg.createOverlay(overlay, source, dd.getFormat());
            done.add(overlay);
          }
          dd.setSourceFile(overlay.toString());
          dd.setFormat(DiskDef.QCOW2);
          external = true;
        }
      }
      if (external) {
        domains.define(caller, newDef);
      }
    } catch (IOException | RuntimeException e) {
      for (SnapshotDef.Disk sd : def.disks()) {
        try {
          if (sd.location() == Location.INTERNAL) {
            Path source = Path.of(disk(domain.def(), sd.name()).getSourceFile());
            if (done.contains(source)) {
              qemuImg.snapshotDelete(source, def.name);
            }
          } else if (sd.location() == Location.EXTERNAL && done.contains(Path.of(sd.file()))) {
            Files.deleteIfExists(Path.of(sd.file()));
          }
        } catch (IOException cleanup) {
          e.addSuppressed(cleanup);
        }
      }
      throw failure("qemu-img could not snapshot domain '" + domain.name() + "'", e);
    }
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
    if (flags.running() && flags.paused()) {
      throw new InvalidArgumentException("revert: running and paused conflict; pick one");
    }
    Domain domain = domains.get(caller, domainName);
    try (Domain.Job job = domain.beginJob(caller, "snapshot revert")) {
      abort.attach(job);
      SnapshotTree tree;
      SnapshotDef snap;
      synchronized (trees) {
        tree = trees.of(domain);
        snap = tree.get(name);
      }
      revertGuard.check(caller, domainName, name);
      if (snap.memoryLocation() == Location.EXTERNAL) {
        external.revertWithMemory(caller, domain, job, snap, flags);
      } else if (snap.isExternal()) {
        external.revert(caller, domain, snap, flags);
      } else if (snap.hasMemory()) {
        internal.revertWithMemory(domain, snap, flags);
      } else {
        internal.revertDisks(caller, domain, snap, flags);
      }
      trees.store(domain).setCurrent(name);
      synchronized (trees) {
        tree.setCurrent(name);
      }
      return snap.copy();
    }
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

  /**
   * Checks the files an external snapshot will write (overlays and the memory file): plain
   * absolute paths inside the server's image folders, none of them a disk of the domain or named
   * twice, new unless {@code reuse}.
   */
  private static void checkExternalFiles(SnapshotDef def, DomainDef domain, boolean reuse,
      ImageRoots roots) {
    Set<Path> sources = new HashSet<>();
    for (DiskDef d : domain.disks()) {
      sources.add(Path.of(d.sourcePath()).normalize());
    }
    Set<Path> seen = new HashSet<>();
    for (SnapshotDef.Disk sd : def.disks()) {
      if (sd.location() == Location.EXTERNAL) {
        checkExternalFile(sd.file(), "overlay", "of disk " + sd.name(), sources, seen, reuse,
            roots);
      }
    }
    if (def.memoryLocation() == Location.EXTERNAL && def.memoryFile() != null) {
      checkExternalFile(def.memoryFile(), "memory file", "", sources, seen, reuse, roots);
    }
  }

  private static void checkExternalFile(String file, String what, String of, Set<Path> sources,
      Set<Path> seen, boolean reuse, ImageRoots roots) {
    String label = what + " '" + file + "'" + (of.isEmpty() ? "" : " " + of);
    Path p = Path.of(file);
    if (!p.isAbsolute() || !p.normalize().equals(p) || file.contains("/../")
        || file.endsWith("/..")) {
      throw new CryoException(
          Reason.PATH_NOT_ALLOWED,
          label + " has '.' or '..' components or is relative; " + "give a plain absolute path");
    }
    try {
      roots.forWriting(file);
    } catch (CryoException e) {
      throw switch (e.kind()) {
        case DENIED ->
            new CryoException(
                Reason.PATH_NOT_ALLOWED,
                label
                    + " is outside the "
                    + "allowed folders (the server's image folders "
                    + roots.roots()
                    + "); put it in one "
                    + "of them",
                e);
        case NOT_FOUND ->
            new FailedPreconditionException(
                "the folder of " + label + " does not exist; create it first", e);
        default -> e;
      };
    }
    if (sources.contains(p) || !seen.add(p)) {
      throw new InvalidArgumentException(label + " is already a disk of the domain or named "
          + "twice in the snapshot");
    }
    if (Files.exists(p) && !reuse) {
      throw new CryoException(
          Reason.FILE_EXISTS,
          label + " already exists; remove it, name another file, " + "or pass reuse_external");
    }
    if (!Files.exists(p) && reuse && !"memory file".equals(what)) {
      throw new FailedPreconditionException("reuse_external: " + label + " does not exist");
    }
  }
}
