package dev.cryo.server.snapshot;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QmpClient;
import dev.cryo.server.qemu.QmpException;
import dev.cryo.server.qemu.QmpJobs;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotPlan.Decision;
import dev.cryo.server.snapshot.SnapshotPlan.Verdict;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
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
 * definition then names the overlay, so its next start uses it. External memory needs the save
 * path and fails with FAILED_PRECONDITION until that is available.
 *
 * <p>Overlays (external files) must lie in a folder that already holds one of the domain's disk
 * images; anything else is PERMISSION_DENIED.
 */
public final class Snapshots {
  private static final Logger log = LoggerFactory.getLogger(Snapshots.class);
  private static final Duration JOB_TIMEOUT = Duration.ofMinutes(15);
  private static final AtomicLong JOB_IDS = new AtomicLong();

  private final Domains domains;
  private final QemuImg qemuImg;
  /** Loaded trees by domain UUID; guarded by {@code this}. */
  private final Map<String, SnapshotTree> trees = new HashMap<>();

  public Snapshots(Domains domains, QemuImg qemuImg) {
    this.domains = domains;
    this.qemuImg = qemuImg;
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

  public synchronized List<SnapshotDef> list(String domainName, SnapshotFilter filter) {
    return tree(domains.get(domainName)).list(filter);
  }

  public synchronized SnapshotDef get(String domainName, String name) {
    return tree(domains.get(domainName)).get(name);
  }

  /** The current snapshot, or null if there is none. */
  public synchronized SnapshotDef current(String domainName) {
    SnapshotTree tree = tree(domains.get(domainName));
    return tree.current() == null ? null : tree.get(tree.current());
  }

  public synchronized boolean isCurrent(String domainName, String name) {
    return name.equals(tree(domains.get(domainName)).current());
  }

  /** Direct children of a snapshot. */
  public synchronized List<SnapshotDef> children(String domainName, String name) {
    SnapshotTree tree = tree(domains.get(domainName));
    tree.get(name);
    return tree.children(name);
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
  public SnapshotDef create(String domainName, String xml, CreateFlags flags) {
    Domain domain = domains.get(domainName);
    SnapshotDef def = SnapshotXml.parse(xml, flags.redefine());
    try (Domain.Job job = domain.beginJob("snapshot create")) {
      SnapshotTree tree;
      synchronized (this) {
        tree = tree(domain);
      }
      if (flags.redefine()) {
        return redefine(domain, tree, def, flags);
      }
      Instant now = Instant.now();
      if (def.name == null) {
        def.name = Long.toString(now.getEpochSecond());
      }
      synchronized (this) {
        if (tree.contains(def.name)) {
          throw new AlreadyExistsException("domain '" + domainName + "' already has a snapshot "
              + "named '" + def.name + "'; pick another name or delete that one");
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
      if (d.memory() == Location.EXTERNAL) {
        throw new FailedPreconditionException("memory snapshot='external' (method "
            + d.method() + ") needs the save-image path, which this server does not have yet; "
            + "use memory snapshot='internal' with qcow2 disks, or a disk-only snapshot");
      }
      DomainDef domainDef = domain.def();
      SnapshotXml.align(def, domainDef, d.memory(), d.disk());
      if (def.disks().stream().noneMatch(x -> x.location() != Location.NO)
          && d.memory() != Location.INTERNAL) {
        throw new InvalidArgumentException("invalid combination: nothing to snapshot; domain '"
            + domainName + "' has no writable disk");
      }
      if (d.memory() == Location.INTERNAL && internalDisks(def).isEmpty()) {
        throw new FailedPreconditionException("an internal snapshot with memory needs at least "
            + "one writable qcow2 disk to hold it; domain '" + domainName + "' has none");
      }
      checkExternalFiles(def, domainDef, flags.reuseExternal());
      def.creationTime = now.getEpochSecond();
      def.state = !online ? "shutoff"
          : d.memory() == Location.NO ? "disk-snapshot"
          : domain.state() == DomainState.PAUSED ? "paused" : "running";
      synchronized (this) {
        def.setParentName(tree.current());
      }
      SnapshotStore store = store(domain);
      if (!flags.noMetadata()) {
        store.writePending(def);
      }
      try {
        switch (d.method()) {
          case QEMU_IMG -> createOffline(domain, def, flags);
          case SAVEVM -> createInternalOnline(domain, running, def);
          case TRANSACTION -> createExternalOnline(domain, running, def, flags);
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
        synchronized (this) {
          tree.put(def);
          tree.setCurrent(def.name);
        }
      }
      if (flags.halt() && domain.running() != null) {
        domains.destroy(domainName, false);
      }
      return def.copy();
    }
  }

  private SnapshotDef redefine(Domain domain, SnapshotTree tree, SnapshotDef def,
      CreateFlags flags) {
    synchronized (this) {
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
    SnapshotStore store = store(domain);
    store.save(def);
    if (flags.current()) {
      store.setCurrent(def.name);
    }
    synchronized (this) {
      tree.put(def);
      if (flags.current()) {
        tree.setCurrent(def.name);
      }
    }
    return def.copy();
  }

  private void createOffline(Domain domain, SnapshotDef def, CreateFlags flags) {
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
        domains.define(newDef);
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

  private void createInternalOnline(Domain domain, RunningQemu running, SnapshotDef def) {
    QmpClient qmp = running.qmp();
    try {
      List<String> nodes = topNodes(qmp, internalDisks(def));
      JsonObject args = new JsonObject();
      args.addProperty("job-id", jobId("save"));
      args.addProperty("tag", def.name);
      args.addProperty("vmstate", nodes.get(0));
      args.add("devices", array(nodes));
      QmpJobs.run(qmp, "snapshot-save", args, JOB_TIMEOUT);
    } catch (QmpException e) {
      throw new FailedPreconditionException("QEMU could not take internal snapshot '" + def.name
          + "' of domain '" + domain.name() + "': " + e.description(), e);
    } catch (IOException e) {
      throw new InternalException("lost QEMU of domain '" + domain.name()
          + "' during snapshot: " + e.getMessage(), e);
    }
  }

  private void createExternalOnline(Domain domain, RunningQemu running, SnapshotDef def,
      CreateFlags flags) {
    QmpClient qmp = running.qmp();
    DomainDef newDef = domain.def().copy();
    List<Path> created = new ArrayList<>();
    List<String> addedNodes = new ArrayList<>();
    JsonArray actions = new JsonArray();
    try {
      for (SnapshotDef.Disk sd : def.disks()) {
        if (sd.location() != Location.EXTERNAL) {
          continue;
        }
        DiskDef dd = disk(newDef, sd.name());
        Path overlay = Path.of(sd.file());
        if (!flags.reuseExternal()) {
          qemuImg.createOverlay(overlay, Path.of(dd.getSourceFile()), dd.getFormat());
          created.add(overlay);
        }
        String top = topNodes(qmp, List.of(sd.name())).get(0);
        String base = "cryo-" + sd.name() + "-" + Integer.toHexString(
            ThreadLocalRandom.current().nextInt(0x100000, 0xFFFFFF));
        JsonObject storage = new JsonObject();
        storage.addProperty("driver", "file");
        storage.addProperty("filename", overlay.toString());
        storage.addProperty("node-name", base + "-s");
        storage.addProperty("discard", "unmap");
        qmp.execute("blockdev-add", storage, QmpClient.DEFAULT_COMMAND_TIMEOUT);
        addedNodes.add(0, base + "-s");
        JsonObject format = new JsonObject();
        format.addProperty("driver", "qcow2");
        format.addProperty("node-name", base + "-f");
        format.addProperty("file", base + "-s");
        format.add("backing", JsonNull.INSTANCE);
        qmp.execute("blockdev-add", format, QmpClient.DEFAULT_COMMAND_TIMEOUT);
        addedNodes.add(0, base + "-f");
        JsonObject data = new JsonObject();
        data.addProperty("node", top);
        data.addProperty("overlay", base + "-f");
        JsonObject action = new JsonObject();
        action.addProperty("type", "blockdev-snapshot");
        action.add("data", data);
        actions.add(action);
        dd.setSourceFile(overlay.toString());
        dd.setFormat(DiskDef.QCOW2);
      }
      JsonObject args = new JsonObject();
      args.add("actions", actions);
      qmp.execute("transaction", args, QmpClient.DEFAULT_COMMAND_TIMEOUT);
    } catch (IOException | QmpException | RuntimeException e) {
      for (String node : addedNodes) {
        try {
          JsonObject del = new JsonObject();
          del.addProperty("node-name", node);
          qmp.execute("blockdev-del", del, QmpClient.DEFAULT_COMMAND_TIMEOUT);
        } catch (IOException | QmpException cleanup) {
          e.addSuppressed(cleanup);
        }
      }
      for (Path p : created) {
        try {
          Files.deleteIfExists(p);
        } catch (IOException cleanup) {
          e.addSuppressed(cleanup);
        }
      }
      throw failure("QEMU could not take external snapshot '" + def.name + "' of domain '"
          + domain.name() + "'", e);
    }
    // QEMU now writes to the overlays: the definition must say so before anything else.
    domains.define(newDef);
  }

  // ---- revert -----------------------------------------------------------------------------------

  /**
   * Reverts the domain to snapshot {@code name}: internal ones in place (memory and disks);
   * external ones on fresh overlays over the snapshot's files, so later snapshots stay intact.
   */
  public SnapshotDef revert(String domainName, String name, RevertFlags flags) {
    if (flags.running() && flags.paused()) {
      throw new InvalidArgumentException("revert: running and paused conflict; pick one");
    }
    Domain domain = domains.get(domainName);
    try (Domain.Job job = domain.beginJob("snapshot revert")) {
      SnapshotTree tree;
      SnapshotDef snap;
      synchronized (this) {
        tree = tree(domain);
        snap = tree.get(name);
      }
      if (snap.memoryLocation() == Location.EXTERNAL) {
        throw new FailedPreconditionException("snapshot '" + name + "' has external memory; "
            + "reverting it needs the save-image path, which this server does not have yet");
      }
      if (snap.isExternal()) {
        revertExternal(domain, snap, flags);
      } else if (snap.hasMemory()) {
        revertInternalWithMemory(domain, snap, flags);
      } else {
        revertInternalDisks(domain, snap, flags);
      }
      store(domain).setCurrent(name);
      synchronized (this) {
        tree.setCurrent(name);
      }
      return snap.copy();
    }
  }

  private void revertInternalWithMemory(Domain domain, SnapshotDef snap, RevertFlags flags) {
    requireStillActive(domain, snap, "revert to it without corrupting later external snapshots");
    RunningQemu running = domain.running();
    boolean launched = false;
    if (running == null) {
      running = domains.launch(domain, QemuCommandLine.Incoming.NONE);
      launched = true;
    }
    QmpClient qmp = running.qmp();
    try {
      List<String> nodes = topNodes(qmp, internalDisks(snap));
      JsonObject args = new JsonObject();
      args.addProperty("job-id", jobId("load"));
      args.addProperty("tag", snap.name());
      args.addProperty("vmstate", nodes.get(0));
      args.add("devices", array(nodes));
      QmpJobs.run(qmp, "snapshot-load", args, JOB_TIMEOUT);
      boolean wantRunning = flags.running() || (!flags.paused() && "running".equals(snap.state()));
      String status = qmp.execute("query-status").getAsJsonObject().get("status").getAsString();
      if (wantRunning && !"running".equals(status)) {
        qmp.execute("cont");
      } else if (!wantRunning && "running".equals(status)) {
        qmp.execute("stop");
      }
      domains.setState(domain, wantRunning ? DomainState.RUNNING : DomainState.PAUSED,
          StateReason.FROM_SNAPSHOT, launched ? DomainEvent.Type.STARTED : null);
    } catch (QmpException | IOException e) {
      if (launched) {
        domains.abortLaunch(domain, running);
      }
      throw failure("QEMU could not revert domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
  }

  private void revertInternalDisks(Domain domain, SnapshotDef snap, RevertFlags flags) {
    requireStillActive(domain, snap, "revert to it without corrupting later external snapshots");
    if (domain.running() != null) {
      domains.destroy(domain.name(), false);
    }
    DomainDef def = domain.def();
    try {
      for (String target : internalDisks(snap)) {
        qemuImg.snapshotApply(Path.of(disk(def, target).getSourceFile()), snap.name());
      }
    } catch (IOException e) {
      throw failure("qemu-img could not revert domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
    if (flags.running() || flags.paused()) {
      domains.start(domain.name(), flags.paused());
    }
  }

  private void revertExternal(Domain domain, SnapshotDef snap, RevertFlags flags) {
    DomainDef then = snap.domain();
    if (then == null) {
      throw new FailedPreconditionException("snapshot '" + snap.name() + "' records no domain "
          + "definition, so Cryo cannot tell which files to revert to");
    }
    boolean wasActive = domain.running() != null;
    DomainDef newDef = domain.def().copy();
    List<Path> created = new ArrayList<>();
    String suffix = "revert-" + Long.toString(System.currentTimeMillis(), 36);
    try {
      for (SnapshotDef.Disk sd : snap.disks()) {
        if (sd.location() != Location.EXTERNAL) {
          continue;
        }
        DiskDef old = disk(then, sd.name());
        Path overlay = Path.of(SnapshotXml.generatedOverlay(old.getSourceFile(),
            snap.name() + "." + suffix));
        qemuImg.createOverlay(overlay, Path.of(old.getSourceFile()), old.getFormat());
        created.add(overlay);
        DiskDef now = disk(newDef, sd.name());
        now.setSourceFile(overlay.toString());
        now.setFormat(DiskDef.QCOW2);
      }
    } catch (IOException | RuntimeException e) {
      for (Path p : created) {
        try {
          Files.deleteIfExists(p);
        } catch (IOException cleanup) {
          e.addSuppressed(cleanup);
        }
      }
      throw failure("could not prepare revert of domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
    if (wasActive) {
      domains.destroy(domain.name(), false);
    }
    domains.define(newDef);
    boolean start = flags.running() || flags.paused()
        || (!"shutoff".equals(snap.state()) && wasActive)
        || "disk-snapshot".equals(snap.state());
    if (start) {
      domains.start(domain.name(), flags.paused());
    }
  }

  // ---- delete -----------------------------------------------------------------------------------

  /**
   * Deletes snapshot {@code name} as {@code mode} says. Internal snapshots are removed from the
   * qcow2 images unless {@code metadataOnly}; external ones only with {@code metadataOnly} (their
   * files are kept: merging them is not supported yet).
   *
   * @return the names deleted
   */
  public List<String> delete(String domainName, String name, DeleteMode mode,
      boolean metadataOnly) {
    Domain domain = domains.get(domainName);
    try (Domain.Job job = domain.beginJob("snapshot delete")) {
      SnapshotTree tree;
      SnapshotDef snap;
      List<SnapshotDef> targets = new ArrayList<>();
      synchronized (this) {
        tree = tree(domain);
        snap = tree.get(name);
        if (mode != DeleteMode.CHILDREN_ONLY) {
          targets.add(snap);
        }
        if (mode != DeleteMode.ONE) {
          targets.addAll(tree.descendants(name));
        }
      }
      if (!metadataOnly) {
        for (SnapshotDef t : targets) {
          if (t.isExternal()) {
            throw new FailedPreconditionException("snapshot '" + t.name() + "' is external; "
                + "Cryo does not merge external overlays yet. Delete it with metadata_only to "
                + "forget it and keep its files");
          }
        }
      }
      SnapshotStore store = store(domain);
      Set<String> gone = new HashSet<>();
      // Children first, so a failure leaves a consistent tree.
      for (int i = targets.size() - 1; i >= 0; i--) {
        SnapshotDef t = targets.get(i);
        if (!metadataOnly) {
          deleteInternalData(domain, t);
        }
        if (t == snap) {
          for (SnapshotDef child : tree.children(name)) {
            child.setParentName(snap.parentName());
            store.save(child);
          }
        }
        store.delete(t.name());
        gone.add(t.name());
        synchronized (this) {
          String current = tree.current();
          tree.remove(t.name());
          if (t.name().equals(current)) {
            String next = mode == DeleteMode.CHILDREN_ONLY ? name : snap.parentName();
            tree.setCurrent(next);
            store.setCurrent(next);
          }
        }
      }
      return List.copyOf(gone);
    }
  }

  private void deleteInternalData(Domain domain, SnapshotDef snap) {
    List<String> targets = internalDisks(snap);
    if (targets.isEmpty()) {
      return;
    }
    RunningQemu running = domain.running();
    try {
      if (running != null) {
        requireStillActive(domain, snap, "delete it while the domain runs; shut it down first");
        JsonObject args = new JsonObject();
        args.addProperty("job-id", jobId("delete"));
        args.addProperty("tag", snap.name());
        args.add("devices", array(topNodes(running.qmp(), targets)));
        QmpJobs.run(running.qmp(), "snapshot-delete", args, JOB_TIMEOUT);
      } else {
        for (String target : targets) {
          Path image = imageOf(domain, snap, target);
          if (qemuImg.snapshotTags(image).contains(snap.name())) {
            qemuImg.snapshotDelete(image, snap.name());
          }
        }
      }
    } catch (QmpException | IOException e) {
      throw failure("could not delete snapshot '" + snap.name() + "' from the disks of domain '"
          + domain.name() + "'", e);
    }
  }

  /** The image that holds {@code snap}'s internal state of disk {@code target}. */
  private static Path imageOf(Domain domain, SnapshotDef snap, String target) {
    DomainDef then = snap.domain() != null ? snap.domain() : domain.def();
    return Path.of(disk(then, target).getSourceFile());
  }

  /**
   * Refuses when an internal snapshot's image is no longer the active file of its disk (an
   * external snapshot or revert put an overlay on top): QEMU addresses only the active layer, and
   * reverting a backing file in place would corrupt the overlays built on it.
   */
  private static void requireStillActive(Domain domain, SnapshotDef snap, String what) {
    DomainDef now = domain.def();
    for (String target : internalDisks(snap)) {
      Path image = imageOf(domain, snap, target);
      if (!image.equals(Path.of(disk(now, target).getSourceFile()))) {
        throw new FailedPreconditionException("internal snapshot '" + snap.name() + "' lives in "
            + image + ", which is now the backing file of an external overlay of disk " + target
            + "; cannot " + what);
      }
    }
  }

  // ---- metadata and recovery --------------------------------------------------------------------

  private SnapshotStore store(Domain domain) {
    return new SnapshotStore(domains.metadataDir(domain.name()).resolve("snapshots"));
  }

  /** The domain's tree, loaded (and half-created snapshots undone) on first use. */
  private SnapshotTree tree(Domain domain) {
    SnapshotTree tree = trees.get(domain.uuid());
    if (tree == null) {
      SnapshotStore store = store(domain);
      for (SnapshotDef pending : store.pending()) {
        undoPending(domain, store, pending);
      }
      tree = store.load();
      for (SnapshotDef s : List.copyOf(tree.topological())) {
        // Metadata left by an undefined domain of the same name is not this domain's.
        if (s.domain() != null && !domain.uuid().equals(s.domain().getUuid())) {
          log.warn("domain '{}': dropping snapshot '{}' recorded for another domain (UUID {})",
              domain.name(), s.name(), s.domain().getUuid());
          store.delete(s.name());
          tree.remove(s.name());
        }
      }
      if (tree.current() == null) {
        store.setCurrent(null);
      }
      trees.put(domain.uuid(), tree);
    }
    return tree;
  }

  /**
   * Undoes a create the server did not finish: removes the internal snapshot it may have left in
   * the images and overlays the domain does not use. An external snapshot QEMU already switched
   * to is kept and recorded, since the guest writes to it.
   */
  private void undoPending(Domain domain, SnapshotStore store, SnapshotDef pending) {
    log.warn("domain '{}': snapshot '{}' was being created when the server stopped; undoing it",
        domain.name(), pending.name());
    DomainDef def = domain.def();
    boolean inUse = false;
    for (SnapshotDef.Disk sd : pending.disks()) {
      if (sd.location() == Location.EXTERNAL) {
        DiskDef dd = disk(def, sd.name());
        if (sd.file().equals(dd.getSourceFile()) || qemuUses(domain, sd.file())) {
          inUse = true;
        }
      }
    }
    if (inUse) {
      DomainDef newDef = def.copy();
      for (SnapshotDef.Disk sd : pending.disks()) {
        if (sd.location() == Location.EXTERNAL) {
          disk(newDef, sd.name()).setSourceFile(sd.file());
          disk(newDef, sd.name()).setFormat(DiskDef.QCOW2);
        }
      }
      domains.define(newDef);
      store.save(pending);
      store.setCurrent(pending.name());
      store.clearPending(pending.name());
      return;
    }
    try {
      RunningQemu running = domain.running();
      if (running != null) {
        awaitSnapshotJobs(running.qmp());
      }
      for (SnapshotDef.Disk sd : pending.disks()) {
        if (sd.location() == Location.EXTERNAL) {
          Files.deleteIfExists(Path.of(sd.file()));
        }
      }
      if (!internalDisks(pending).isEmpty()) {
        deleteInternalData(domain, pending);
      }
    } catch (IOException | RuntimeException e) {
      log.error("could not fully undo snapshot '{}' of domain '{}': {}", pending.name(),
          domain.name(), e.getMessage());
    }
    store.clearPending(pending.name());
  }

  /**
   * Waits for snapshot jobs an earlier server started in this QEMU to end, and dismisses them: a
   * server killed mid-create leaves QEMU to finish the job on its own.
   */
  private static void awaitSnapshotJobs(QmpClient qmp) throws IOException {
    long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
    try {
      while (true) {
        java.util.concurrent.CompletableFuture<dev.cryo.server.qemu.QmpEvent> change =
            qmp.nextEvent("JOB_STATUS_CHANGE", null);
        boolean active = false;
        for (JsonElement j : qmp.execute("query-jobs").getAsJsonArray()) {
          JsonObject job = j.getAsJsonObject();
          String id = job.get("id").getAsString();
          if (!id.startsWith("cryo-snapshot-")) {
            continue;
          }
          if ("concluded".equals(job.get("status").getAsString())) {
            JsonObject dismiss = new JsonObject();
            dismiss.addProperty("id", id);
            qmp.execute("job-dismiss", dismiss, QmpClient.DEFAULT_COMMAND_TIMEOUT);
          } else {
            active = true;
          }
        }
        if (!active) {
          change.cancel(false);
          return;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          change.cancel(false);
          throw new IOException("QEMU snapshot jobs did not end in " + JOB_TIMEOUT);
        }
        try {
          change.get(left, java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          // Loop: the deadline check ends it.
        } catch (java.util.concurrent.ExecutionException e) {
          throw new IOException("lost QEMU while waiting for its snapshot jobs", e.getCause());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("interrupted");
        }
      }
    } catch (QmpException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  private static boolean qemuUses(Domain domain, String file) {
    RunningQemu running = domain.running();
    if (running == null) {
      return false;
    }
    try {
      return running.qmp().execute("query-block").toString().contains(
          new com.google.gson.JsonPrimitive(file).toString());
    } catch (IOException | QmpException e) {
      return false;
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private static List<String> internalDisks(SnapshotDef def) {
    return def.disks().stream().filter(d -> d.location() == Location.INTERNAL)
        .map(SnapshotDef.Disk::name).toList();
  }

  private static DiskDef disk(DomainDef def, String target) {
    for (DiskDef d : def.disks()) {
      if (d.getTargetDev().equals(target)) {
        return d;
      }
    }
    throw new FailedPreconditionException("domain '" + def.getName() + "' no longer has disk '"
        + target + "'");
  }

  /** The node each guest disk currently writes to (the top of its chain), by target. */
  private static List<String> topNodes(QmpClient qmp, List<String> targets)
      throws IOException, QmpException {
    Map<String, String> byTarget = new HashMap<>();
    for (JsonElement e : qmp.execute("query-block").getAsJsonArray()) {
      JsonObject b = e.getAsJsonObject();
      if (b.has("qdev") && b.has("inserted")) {
        String qdev = b.get("qdev").getAsString();
        for (String t : targets) {
          if (qdev.contains("/virtio-" + t + "/")) {
            byTarget.put(t, b.getAsJsonObject("inserted").get("node-name").getAsString());
          }
        }
      }
    }
    List<String> out = new ArrayList<>();
    for (String t : targets) {
      String node = byTarget.get(t);
      if (node == null) {
        throw new FailedPreconditionException("QEMU has no block node for disk '" + t + "'");
      }
      out.add(node);
    }
    return out;
  }

  /** Checks where external files go; see the class comment. */
  private static void checkExternalFiles(SnapshotDef def, DomainDef domain, boolean reuse) {
    Set<Path> allowed = new HashSet<>();
    Set<Path> sources = new HashSet<>();
    for (DiskDef d : domain.disks()) {
      Path p = Path.of(d.getSourceFile()).normalize();
      sources.add(p);
      allowed.add(p.getParent());
    }
    Set<Path> seen = new HashSet<>();
    for (SnapshotDef.Disk sd : def.disks()) {
      if (sd.location() != Location.EXTERNAL) {
        continue;
      }
      Path p = Path.of(sd.file());
      if (!p.normalize().equals(p) || sd.file().contains("/../") || sd.file().endsWith("/..")) {
        throw new PermissionDeniedException("overlay '" + sd.file() + "' of disk " + sd.name()
            + " has '.' or '..' components; give a plain absolute path");
      }
      if (!allowed.contains(p.getParent())) {
        throw new PermissionDeniedException("overlay '" + sd.file() + "' of disk " + sd.name()
            + " is outside the allowed folders; put it beside the domain's disk images "
            + allowed);
      }
      if (sources.contains(p) || !seen.add(p)) {
        throw new InvalidArgumentException("overlay '" + sd.file() + "' of disk " + sd.name()
            + " is already a disk of the domain or used twice");
      }
      if (Files.exists(p) && !reuse) {
        throw new AlreadyExistsException("overlay '" + sd.file() + "' of disk " + sd.name()
            + " already exists; remove it, name another file, or pass reuse_external");
      }
      if (!Files.exists(p) && reuse) {
        throw new FailedPreconditionException("reuse_external: overlay '" + sd.file()
            + "' of disk " + sd.name() + " does not exist");
      }
    }
  }

  private static JsonArray array(List<String> values) {
    JsonArray a = new JsonArray();
    values.forEach(a::add);
    return a;
  }

  private static String jobId(String what) {
    return "cryo-snapshot-" + what + "-" + JOB_IDS.incrementAndGet();
  }

  private static RuntimeException failure(String what, Exception e) {
    if (e instanceof dev.cryo.server.error.CryoException ce) {
      return ce;
    }
    if (e instanceof QmpException q) {
      return new FailedPreconditionException(what + ": " + q.description(), e);
    }
    if (e instanceof QemuImg.QemuImgException) {
      return new FailedPreconditionException(what + ": " + e.getMessage(), e);
    }
    return new InternalException(what + ": " + e.getMessage(), e);
  }
}
