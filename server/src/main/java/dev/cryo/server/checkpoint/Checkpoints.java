package dev.cryo.server.checkpoint;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QemuMonitor.DirtyBitmap;
import dev.cryo.server.qemu.TransactionAction;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints of domains (libvirt's domaincheckpoint): a persistent dirty bitmap per selected
 * qcow2 disk, plus metadata in a tree. All bitmaps stay enabled, so the bitmap of a checkpoint
 * records every write since that checkpoint and an incremental backup since it reads that one
 * bitmap; deleting a checkpoint still merges its bitmap into its parent's first, so the parent
 * covers every change even for bitmaps restored by a redefine that were not enabled all along.
 *
 * <p>Changes (create, delete, redefine) hold the domain's job; reads take only this object's lock,
 * which guards the trees.
 */
public final class Checkpoints {
  private static final Logger log = LoggerFactory.getLogger(Checkpoints.class);

  private final Domains domains;
  /** For stopped domains, whose images no QEMU has open. */
  private final QemuImg img;
  private final Clock clock;
  /** Guarded by {@code this}. Loaded on first use. */
  private final Map<String, CheckpointTree> trees = new HashMap<>();

  public Checkpoints(Domains domains, Clock clock) {
    this.domains = domains;
    this.clock = clock;
    this.img = QemuImg.besides(domains.qemuBinary());
    // The server's own bookkeeping, for no caller: it must hear of every domain's undefine.
    domains.watch(Principal.INTERNAL, null, event -> {
      if (event.type() == DomainEvent.Type.UNDEFINED) {
        forget(event.name());
      }
    });
  }

  /**
   * Drops the checkpoint metadata of an undefined domain, so that a new domain of the same name
   * does not inherit it (libvirt's UNDEFINE_CHECKPOINTS_METADATA; libvirt refuses a plain
   * undefine while checkpoints exist, which needs a hook in Domains.undefine). The bitmaps stay
   * in the images; a redefine from saved XML restores the metadata.
   */
  private synchronized void forget(String domainName) {
    trees.remove(domainName);
    Path dir = domains.metadataDir(domainName).resolve("checkpoints");
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(dir);
      Files.deleteIfExists(dir.getParent());
      log.info("domain '{}' was undefined; removed its checkpoint metadata", domainName);
    } catch (IOException e) {
      log.warn("could not remove the checkpoint metadata of undefined domain '{}': {}",
          domainName, e.toString());
    }
  }

  /** What {@link #delete} removes. */
  public enum DeleteMode {
    /** The checkpoint; its children move up to its parent. */
    ONE,
    /** The checkpoint and all its descendants. */
    WITH_CHILDREN,
    /** Only the descendants. */
    CHILDREN_ONLY
  }

  /** A checkpoint and, when asked for, its per-disk sizes (set on the copy's disks). */
  public record Listed(CheckpointDef def, boolean leaf, boolean current) {}

  // ---- create -----------------------------------------------------------------------------------

  /**
   * Creates a checkpoint from {@code xml} ({@link CheckpointXml.Mode#CREATE}) on a running or
   * stopped domain.
   *
   * @throws dev.cryo.server.error.InvalidArgumentException for bad XML, names or disk selection
   * @throws AlreadyExistsException if the name is taken
   * @throws FailedPreconditionException if a disk already has a bitmap of that name
   */
  public CheckpointDef create(Principal caller, String domainName, String xml) {
    Domain domain = domains.get(caller, domainName);
    CheckpointDef def = CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE);
    try (Domain.Job job = domain.beginJob(caller, "checkpoint create")) {
      Prepared prepared = prepare(domain, def);
      RunningQemu qemu = domain.running();
      if (qemu != null) {
        qemu.monitor().transaction(prepared.actions());
      } else {
        addOffline(domain, def);
      }
      return commit(domain, prepared);
    }
  }

  /** A checkpoint ready to be created: its metadata and the QMP transaction actions. */
  record Prepared(CheckpointDef def, List<TransactionAction> actions) {}

  /**
   * Validates a new checkpoint against the domain and the tree and returns the QMP actions that
   * add its bitmaps. The caller holds the domain's job, runs the actions (possibly in a larger
   * transaction, as a backup does) and then calls {@link #commit}.
   */
  Prepared prepare(Domain domain, CheckpointDef def) {
    long now = clock.instant().getEpochSecond();
    if (def.getName() == null) {
      def.setName(Long.toString(now));
    }
    CheckpointXml.checkName(def.getName());
    def.setCreationTime(now);
    DomainDef domainDef = domain.def();
    CheckpointXml.align(def, domainDef);
    synchronized (this) {
      CheckpointTree tree = tree(domain.name());
      if (tree.contains(def.getName())) {
        throw new CryoException(
                Reason.CHECKPOINT_EXISTS,
                "domain '"
                    + domain.name()
                    + "' already has a checkpoint named '"
                    + def.getName()
                    + "'; choose another name or delete that one first")
            .with("domain", domain.name())
            .with("checkpoint", def.getName());
      }
      def.setParent(tree.current());
    }
    RunningQemu qemu = domain.running();
    List<TransactionAction> actions = new ArrayList<>();
    Map<String, Map<String, DirtyBitmap>> live =
        qemu == null ? Map.of() : BlockNodes.bitmaps(qemu);
    for (CheckpointDef.Disk disk : def.disks()) {
      if (!disk.hasBitmap()) {
        continue;
      }
      Set<String> existing = qemu != null
          ? live.getOrDefault(BlockNodes.formatNode(disk.getName()), Map.of()).keySet()
          : qemuImg(() -> img.bitmaps(source(domainDef, disk.getName())));
      if (existing.contains(disk.getBitmap())) {
        throw new FailedPreconditionException("disk '" + disk.getName()
            + "' already has a bitmap named '" + disk.getBitmap() + "' that no checkpoint of '"
            + domain.name() + "' owns; redefine the checkpoint it belongs to, or choose another "
            + "name");
      }
      actions.add(BlockNodes.bitmapAdd(BlockNodes.formatNode(disk.getName()), disk.getBitmap()));
    }
    return new Prepared(def, actions);
  }

  /** Records a checkpoint whose bitmaps now exist; it becomes current. */
  CheckpointDef commit(Domain domain, Prepared prepared) {
    CheckpointDef def = prepared.def();
    synchronized (this) {
      CheckpointTree tree = tree(domain.name());
      CheckpointStore store = store(domain.name());
      try {
        store.write(def);
        tree.add(def);
        tree.setCurrent(def.getName());
        store.writeCurrent(def.getName());
      } catch (IOException | RuntimeException e) {
        tree.remove(def.getName());
        rollbackBitmaps(domain, def);
        throw new InternalException("could not store checkpoint '" + def.getName() + "': "
            + e.getMessage(), e);
      }
    }
    log.info("domain '{}': created checkpoint '{}' (parent {})", domain.name(), def.getName(),
        def.getParent());
    return def.copy();
  }

  private void addOffline(Domain domain, CheckpointDef def) {
    List<CheckpointDef.Disk> done = new ArrayList<>();
    try {
      for (CheckpointDef.Disk disk : def.disks()) {
        if (disk.hasBitmap()) {
          qemuImgStep(() -> img.addBitmap(source(domain.def(), disk.getName()),
              disk.getBitmap()));
          done.add(disk);
        }
      }
    } catch (RuntimeException e) {
      for (CheckpointDef.Disk disk : done) {
        try {
          qemuImgStep(() -> img.removeBitmap(source(domain.def(), disk.getName()),
              disk.getBitmap()));
        } catch (RuntimeException again) {
          e.addSuppressed(again);
        }
      }
      throw e;
    }
  }

  private void rollbackBitmaps(Domain domain, CheckpointDef def) {
    try {
      RunningQemu qemu = domain.running();
      for (CheckpointDef.Disk disk : def.disks()) {
        if (!disk.hasBitmap()) {
          continue;
        }
        if (qemu != null) {
          qemu.monitor().transaction(List.of(BlockNodes.bitmapRemove(
              BlockNodes.formatNode(disk.getName()), disk.getBitmap())));
        } else {
          qemuImgStep(() -> img.removeBitmap(source(domain.def(), disk.getName()),
              disk.getBitmap()));
        }
      }
    } catch (RuntimeException e) {
      log.warn("could not remove the bitmaps of failed checkpoint '{}': {}", def.getName(),
          e.getMessage());
    }
  }

  // ---- redefine ---------------------------------------------------------------------------------

  /**
   * Restores checkpoint metadata (libvirt's REDEFINE), e.g. after moving the domain to this host.
   * Every bitmap the checkpoint names must exist in its disk.
   *
   * @throws FailedPreconditionException if a bitmap is missing
   * @throws NotFoundException if the parent checkpoint is unknown
   */
  public CheckpointDef redefine(Principal caller, String domainName, String xml) {
    Domain domain = domains.get(caller, domainName);
    CheckpointDef def = CheckpointXml.parse(xml, CheckpointXml.Mode.REDEFINE);
    try (Domain.Job job = domain.beginJob(caller, "checkpoint redefine")) {
      DomainDef current = domain.def();
      CheckpointXml.align(def, def.getDomain() != null ? def.getDomain() : current);
      RunningQemu qemu = domain.running();
      Map<String, Map<String, DirtyBitmap>> live =
          qemu == null ? Map.of() : BlockNodes.bitmaps(qemu);
      for (CheckpointDef.Disk disk : def.disks()) {
        if (!disk.hasBitmap()) {
          continue;
        }
        if (current.disks().stream().noneMatch(d -> d.getTargetDev().equals(disk.getName()))) {
          throw new FailedPreconditionException("checkpoint '" + def.getName() + "' has a bitmap "
              + "on disk '" + disk.getName() + "', which domain '" + domainName + "' no longer "
              + "has");
        }
        Set<String> existing = qemu != null
            ? live.getOrDefault(BlockNodes.formatNode(disk.getName()), Map.of()).keySet()
            : qemuImg(() -> img.bitmaps(source(current, disk.getName())));
        if (!existing.contains(disk.getBitmap())) {
          throw new FailedPreconditionException("disk '" + disk.getName() + "' has no bitmap '"
              + disk.getBitmap() + "'; a redefine restores metadata only for bitmaps that exist "
              + "in the image");
        }
      }
      synchronized (this) {
        CheckpointTree tree = tree(domainName);
        if (def.getParent() != null && !tree.contains(def.getParent())) {
          throw new CryoException(
                  Reason.CHECKPOINT_NOT_FOUND,
                  "parent checkpoint '"
                      + def.getParent()
                      + "' of '"
                      + def.getName()
                      + "' does not exist in domain '"
                      + domainName
                      + "'; redefine the parent first")
              .with("domain", domainName)
              .with("checkpoint", def.getParent());
        }
        try {
          store(domainName).write(def);
          if (tree.contains(def.getName())) {
            tree.replace(def);
          } else {
            tree.add(def);
          }
          if (tree.current() == null || tree.current().equals(def.getParent())) {
            tree.setCurrent(def.getName());
            store(domainName).writeCurrent(def.getName());
          }
        } catch (IOException e) {
          throw new InternalException("could not store checkpoint '" + def.getName() + "'", e);
        }
      }
      return def.copy();
    }
  }

  // ---- reads ------------------------------------------------------------------------------------

  /**
   * One checkpoint; with {@code withSize}, each bitmap disk's {@code size} is the bytes written
   * since the checkpoint (cluster granularity), which needs a running domain.
   */
  public Listed get(Principal caller, String domainName, String name, boolean withSize) {
    Domain domain = domains.get(caller, domainName);
    Listed listed;
    synchronized (this) {
      CheckpointTree tree = tree(domainName);
      listed = new Listed(tree.get(name).copy(), tree.isLeaf(name), name.equals(tree.current()));
    }
    if (withSize) {
      fillSizes(domain, listed.def());
    }
    return listed;
  }

  private static void fillSizes(Domain domain, CheckpointDef def) {
    RunningQemu qemu = domain.running();
    if (qemu == null) {
      throw new FailedPreconditionException("the size of checkpoint '" + def.getName()
          + "' comes from QEMU's dirty bitmaps; start domain '" + domain.name() + "' first");
    }
    Map<String, Map<String, DirtyBitmap>> live = BlockNodes.bitmaps(qemu);
    for (CheckpointDef.Disk disk : def.disks()) {
      if (disk.hasBitmap()) {
        DirtyBitmap b = live.getOrDefault(BlockNodes.formatNode(disk.getName()), Map.of())
            .get(disk.getBitmap());
        if (b == null) {
          throw new FailedPreconditionException("disk '" + disk.getName() + "' has lost bitmap '"
              + disk.getBitmap() + "' of checkpoint '" + def.getName() + "'");
        }
        disk.setSize(b.count());
      }
    }
  }

  /** The checkpoints passing {@code filter}, topologically ordered. */
  public synchronized List<Listed> list(Principal caller, String domainName,
      CheckpointTree.Filter filter) {
    domains.get(caller, domainName);
    CheckpointTree tree = tree(domainName);
    return wrap(tree, tree.list(filter));
  }

  /** Children (or all descendants) of {@code name}. */
  public synchronized List<Listed> children(Principal caller, String domainName, String name,
      boolean all) {
    domains.get(caller, domainName);
    CheckpointTree tree = tree(domainName);
    return wrap(tree, all ? tree.descendants(name) : tree.children(name));
  }

  /** @throws NotFoundException if {@code name} is a root */
  public synchronized Listed parent(Principal caller, String domainName, String name) {
    domains.get(caller, domainName);
    CheckpointTree tree = tree(domainName);
    String parent = tree.get(name).getParent();
    if (parent == null) {
      throw new CryoException(
              Reason.CHECKPOINT_NOT_FOUND,
              "checkpoint '"
                  + name
                  + "' of domain '"
                  + domainName
                  + "' is a root and has no parent")
          .with("domain", domainName)
          .with("checkpoint", name);
    }
    return wrap(tree, List.of(tree.get(parent))).get(0);
  }

  /** @throws NotFoundException if the domain has no checkpoint */
  public synchronized Listed current(Principal caller, String domainName) {
    domains.get(caller, domainName);
    CheckpointTree tree = tree(domainName);
    if (tree.current() == null) {
      throw new CryoException(
              Reason.CHECKPOINT_NOT_FOUND, "domain '" + domainName + "' has no current checkpoint")
          .with("domain", domainName);
    }
    return wrap(tree, List.of(tree.get(tree.current()))).get(0);
  }

  private static List<Listed> wrap(CheckpointTree tree, List<CheckpointDef> defs) {
    List<Listed> out = new ArrayList<>();
    for (CheckpointDef d : defs) {
      out.add(new Listed(d.copy(), tree.isLeaf(d.getName()), d.getName().equals(tree.current())));
    }
    return out;
  }

  /**
   * Deletes a checkpoint a failed backup created (merging its bitmap into its parent's). The
   * caller holds the domain's job.
   */
  void abandon(Domain domain, String name) {
    deleteOne(domain, name, false);
  }

  /** A copy of the checkpoint {@code name}, for a backup that starts from it. */
  synchronized CheckpointDef lookup(String domainName, String name) {
    return tree(domainName).get(name).copy();
  }

  /** Whether the domain has any checkpoint. */
  public synchronized boolean hasCheckpoints(Principal caller, String domainName) {
    domains.get(caller, domainName);
    return !tree(domainName).isEmpty();
  }

  /**
   * The hook for snapshot code: refuses a revert while checkpoints exist, as the revert would
   * change the disks behind the bitmaps' back and make every later incremental backup wrong.
   * (libvirt likewise refuses to revert a domain that has checkpoints.)
   *
   * @throws FailedPreconditionException naming the checkpoints to delete first
   */
  public synchronized void requireNoCheckpointsForRevert(Principal caller, String domainName,
      String snapshot) {
    domains.get(caller, domainName);
    CheckpointTree tree = tree(domainName);
    if (!tree.isEmpty()) {
      List<String> names = tree.list(CheckpointTree.Filter.ALL).stream()
          .map(CheckpointDef::getName).toList();
      throw new FailedPreconditionException("reverting domain '" + domainName + "' to snapshot '"
          + snapshot + "' would invalidate the dirty bitmaps of checkpoints " + names
          + "; delete them (DeleteCheckpoint) first");
    }
  }

  // ---- delete -----------------------------------------------------------------------------------

  /**
   * Deletes checkpoints. Unless {@code metadataOnly}, each deleted checkpoint's bitmap is merged
   * into its surviving parent's bitmap on the same disk and then removed, in one QMP transaction
   * per checkpoint on a running domain, or with {@code qemu-img bitmap} on a stopped one.
   *
   * @return the names deleted, deepest first
   */
  public List<String> delete(Principal caller, String domainName, String name, DeleteMode mode,
      boolean metadataOnly) {
    Domain domain = domains.get(caller, domainName);
    try (Domain.Job job = domain.beginJob(caller, "checkpoint delete")) {
      List<CheckpointDef> victims;
      synchronized (this) {
        CheckpointTree tree = tree(domainName);
        CheckpointDef target = tree.get(name);
        victims = new ArrayList<>();
        if (mode != DeleteMode.ONE) {
          victims.addAll(tree.descendants(name));
        }
        java.util.Collections.reverse(victims); // leaves first
        if (mode != DeleteMode.CHILDREN_ONLY) {
          victims.add(target);
        }
      }
      List<String> deleted = new ArrayList<>();
      for (CheckpointDef victim : victims) {
        deleteOne(domain, victim.getName(), metadataOnly);
        deleted.add(victim.getName());
      }
      return deleted;
    }
  }

  private void deleteOne(Domain domain, String name, boolean metadataOnly) {
    CheckpointDef def;
    CheckpointDef parent;
    synchronized (this) {
      CheckpointTree tree = tree(domain.name());
      def = tree.get(name);
      parent = def.getParent() == null ? null : tree.get(def.getParent());
    }
    if (!metadataOnly) {
      discardBitmaps(domain, def, parent);
    }
    synchronized (this) {
      CheckpointTree tree = tree(domain.name());
      CheckpointStore store = store(domain.name());
      List<CheckpointDef> children = tree.children(name);
      tree.remove(name);
      try {
        for (CheckpointDef child : children) {
          store.write(child);
        }
        store.delete(name);
        store.writeCurrent(tree.current());
      } catch (IOException e) {
        throw new InternalException("could not update the checkpoint metadata of '"
            + domain.name() + "': " + e.getMessage(), e);
      }
    }
    log.info("domain '{}': deleted checkpoint '{}'{}", domain.name(), name,
        metadataOnly ? " (metadata only)" : "");
  }

  private void discardBitmaps(Domain domain, CheckpointDef def, CheckpointDef parent) {
    RunningQemu qemu = domain.running();
    Map<String, Map<String, DirtyBitmap>> live =
        qemu == null ? Map.of() : BlockNodes.bitmaps(qemu);
    List<TransactionAction> actions = new ArrayList<>();
    for (CheckpointDef.Disk disk : def.disks()) {
      if (!disk.hasBitmap()) {
        continue;
      }
      String node = BlockNodes.formatNode(disk.getName());
      Path source = qemu == null ? sourceOrNull(domain.def(), disk.getName()) : null;
      Set<String> existing = qemu != null ? live.getOrDefault(node, Map.of()).keySet()
          : source == null ? Set.of() : qemuImg(() -> img.bitmaps(source));
      if (!existing.contains(disk.getBitmap())) {
        log.warn("checkpoint '{}': disk '{}' has no bitmap '{}' any more; nothing to merge",
            def.getName(), disk.getName(), disk.getBitmap());
        continue;
      }
      String parentBitmap = parentBitmap(parent, disk.getName());
      if (parentBitmap != null && existing.contains(parentBitmap)) {
        if (qemu != null) {
          actions.add(BlockNodes.bitmapMerge(node, parentBitmap, disk.getBitmap()));
        } else {
          qemuImgStep(() -> img.mergeBitmap(source, disk.getBitmap(), parentBitmap));
        }
      }
      if (qemu != null) {
        actions.add(BlockNodes.bitmapRemove(node, disk.getBitmap()));
      } else {
        qemuImgStep(() -> img.removeBitmap(source, disk.getBitmap()));
      }
    }
    if (qemu != null) {
      qemu.monitor().transaction(actions);
    }
  }

  private static String parentBitmap(CheckpointDef parent, String disk) {
    if (parent == null) {
      return null;
    }
    for (CheckpointDef.Disk d : parent.disks()) {
      if (d.getName().equals(disk) && d.hasBitmap()) {
        return d.getBitmap();
      }
    }
    return null;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  static Path source(DomainDef def, String target) {
    Path p = sourceOrNull(def, target);
    if (p == null) {
      throw new FailedPreconditionException("domain '" + def.getName() + "' has no disk '"
          + target + "'");
    }
    return p;
  }

  private static Path sourceOrNull(DomainDef def, String target) {
    for (DiskDef d : def.disks()) {
      if (d.getTargetDev().equals(target)) {
        return d.sourcePath() == null ? null : Path.of(d.sourcePath());
      }
    }
    return null;
  }

  /** Guarded by {@code this}. */
  private CheckpointTree tree(String domainName) {
    CheckpointTree tree = trees.get(domainName);
    if (tree == null) {
      try {
        tree = store(domainName).load(domainName);
      } catch (IOException e) {
        throw new InternalException("could not read the checkpoints of '" + domainName + "': "
            + e.getMessage(), e);
      }
      trees.put(domainName, tree);
    }
    return tree;
  }

  private CheckpointStore store(String domainName) {
    return new CheckpointStore(domains.metadataDir(domainName).resolve("checkpoints"));
  }

  /** A qemu-img query; its failure (a locked or broken image) is FAILED_PRECONDITION. */
  static <T> T qemuImg(QemuImgQuery<T> query) {
    try {
      return query.get();
    } catch (IOException e) {
      throw new FailedPreconditionException("qemu-img failed: " + e.getMessage(), e);
    }
  }

  /** A qemu-img step; its failure (a locked or broken image) is FAILED_PRECONDITION. */
  static void qemuImgStep(QemuImgStep step) {
    qemuImg(() -> {
      step.run();
      return null;
    });
  }

  @FunctionalInterface
  interface QemuImgQuery<T> {
    T get() throws IOException;
  }

  @FunctionalInterface
  interface QemuImgStep {
    void run() throws IOException;
  }
}
