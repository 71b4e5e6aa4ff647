package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.failure;
import static dev.cryo.server.snapshot.TargetDisks.disk;
import static dev.cryo.server.snapshot.TargetDisks.onOverlay;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.AbortSignal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotPlan.Decision;
import dev.cryo.server.snapshot.SnapshotPlan.Verdict;
import dev.cryo.server.snapshot.Snapshots.CreateFlags;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Creating a snapshot (see {@link Snapshots#create}): the request checked against the domain,
 * {@link SnapshotPlan}'s decision of how to take it, a pending record while it is taken (what
 * {@link SnapshotRecovery} ends if the server dies), then the strategy the plan chose: {@code
 * qemu-img} here for a shut-off domain, {@link InternalSnapshots} for {@code snapshot-save},
 * {@link ExternalSnapshots} for overlays, with memory or without. Redefine only records.
 */
final class SnapshotCreate {
  private final Domains domains;
  private final QemuImg qemuImg;
  private final SnapshotTrees trees;
  private final InternalSnapshots internal;
  private final ExternalSnapshots external;

  SnapshotCreate(Domains domains, QemuImg qemuImg, SnapshotTrees trees,
      InternalSnapshots internal, ExternalSnapshots external) {
    this.domains = domains;
    this.qemuImg = qemuImg;
    this.trees = trees;
    this.internal = internal;
    this.external = external;
  }

  SnapshotDef create(Principal caller, String domainName, String xml, CreateFlags flags,
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
      ExternalFiles.check(def, domainDef, flags.reuseExternal(), domains.imageRoots());
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

  /**
   * A shut-off domain's snapshot, by {@code qemu-img}: {@code snapshot -c} inside each internal
   * disk, a new overlay over each external one (which the definition then names); what it made
   * is removed again if a step fails.
   */
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
          onOverlay(dd, overlay.toString());
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
}
