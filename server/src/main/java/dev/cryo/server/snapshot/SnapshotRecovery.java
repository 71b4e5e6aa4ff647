package dev.cryo.server.snapshot;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash recovery for snapshots: what a server killed in the middle of a create left behind (a
 * pending record in the domain's snapshot folder, files, nodes open in QEMU, a paused guest), and
 * how the next server ends it. {@link SnapshotTrees} runs it for each pending record as it loads
 * a domain's tree, which {@link Snapshots#recover} does for every domain at start.
 */
final class SnapshotRecovery {
  private static final Logger log = LoggerFactory.getLogger(SnapshotRecovery.class);

  /** How long QEMU gets to end the jobs and the migration a killed server started. */
  private static final Duration JOB_TIMEOUT = SnapshotJobs.JOB_TIMEOUT;

  /** {@code query-migrate} statuses of no migration, or of one that is over. */
  private static final Set<String> MIGRATION_ENDED =
      Set.of("none", "completed", "failed", "cancelled");

  private final Domains domains;
  private final BiConsumer<Domain, SnapshotDef> deleteInternalData;

  /**
   * @param deleteInternalData removes a snapshot's internal data from the domain's images
   */
  SnapshotRecovery(Domains domains, BiConsumer<Domain, SnapshotDef> deleteInternalData) {
    this.domains = domains;
    this.deleteInternalData = deleteInternalData;
  }

  /**
   * Ends a create the server did not finish. An external snapshot QEMU already switched to is
   * kept and recorded, since the guest writes to it (its memory file was complete before the
   * switch); anything else is undone: a memory save still running is cancelled, overlays QEMU
   * opened are closed, files it made and internal snapshots it left in the images are removed.
   * Either way a guest the create paused runs again, as it did before.
   */
  void finish(Domain domain, SnapshotStore store, SnapshotDef pending) {
    RunningQemu running = domain.running();
    DomainDef def = domain.def();
    boolean inUse = false;
    for (SnapshotDef.Disk sd : pending.disks()) {
      if (sd.location() == Location.EXTERNAL) {
        DiskDef dd = TargetDisks.disk(def, sd.name());
        if (sd.file().equals(dd.getSourceFile()) || qemuUses(domain, sd.file())) {
          inUse = true;
        }
      }
    }
    if (inUse) {
      log.warn(
          "domain '{}': snapshot '{}' was being created when the server stopped, after "
              + "its disks switched; keeping it",
          domain.name(),
          pending.name());
      DomainDef newDef = def.copy();
      for (SnapshotDef.Disk sd : pending.disks()) {
        if (sd.location() == Location.EXTERNAL) {
          TargetDisks.onOverlay(TargetDisks.disk(newDef, sd.name()), sd.file());
        }
      }
      // Crash recovery on load, for no caller: the server finishes its own interrupted work.
      domains.define(Principal.INTERNAL, newDef);
      store.save(pending);
      store.setCurrent(pending.name());
      store.clearPending(pending.name());
      resumeAfterRecovery(domain, running, pending);
      return;
    }
    log.warn(
        "domain '{}': snapshot '{}' was being created when the server stopped; undoing it",
        domain.name(),
        pending.name());
    try {
      if (running != null) {
        awaitSnapshotJobs(running.monitor());
        awaitNoMigration(running.monitor());
        closeOverlays(running.monitor(), pending);
      }
    } catch (IOException | RuntimeException e) {
      log.error(
          "domain '{}': could not close what snapshot '{}' opened in QEMU: {}",
          domain.name(),
          pending.name(),
          e.getMessage());
    }
    try {
      for (SnapshotDef.Disk sd : pending.disks()) {
        if (sd.location() == Location.EXTERNAL) {
          Files.deleteIfExists(Path.of(sd.file()));
        }
      }
      if (pending.memoryFile() != null) {
        Files.deleteIfExists(Path.of(pending.memoryFile()));
      }
      if (!pending.internalDisks().isEmpty()) {
        deleteInternalData.accept(domain, pending);
      }
    } catch (IOException | RuntimeException e) {
      log.error(
          "could not fully undo snapshot '{}' of domain '{}': {}",
          pending.name(),
          domain.name(),
          e.getMessage());
    }
    store.clearPending(pending.name());
    resumeAfterRecovery(domain, running, pending);
  }

  /** Runs a guest again that was running when a create paused it, and that is still paused. */
  private void resumeAfterRecovery(Domain domain, RunningQemu running, SnapshotDef pending) {
    if (running == null || !"running".equals(pending.state())) {
      return;
    }
    try {
      if (!running.monitor().queryStatus().running()) {
        running.monitor().cont();
        domains.setState(
            domain, DomainState.RUNNING, StateReason.UNPAUSED, DomainEvent.Type.RESUMED);
        log.warn(
            "domain '{}': resumed the guest snapshot '{}' had paused",
            domain.name(),
            pending.name());
      }
    } catch (RuntimeException e) {
      log.error(
          "domain '{}': could not resume the guest snapshot '{}' had paused: {}",
          domain.name(),
          pending.name(),
          e.getMessage());
    }
  }

  /**
   * Cancels a memory save an earlier server left running in this QEMU and waits for it to end: its
   * output (the killed server) is gone, so it could only fail, and QEMU keeps the guest paused
   * until it does.
   */
  private static void awaitNoMigration(QemuMonitor qmp) throws IOException {
    long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
    boolean cancelled = false;
    while (true) {
      CompletableFuture<QemuEvent.Migration> change =
          qmp.nextEvent(QemuEvent.Migration.class, null);
      String status = qmp.queryMigrate().status();
      if (status == null || MIGRATION_ENDED.contains(status)) {
        change.cancel(false);
        return;
      }
      if (!cancelled) {
        qmp.migrateCancel();
        cancelled = true;
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        change.cancel(false);
        throw new IOException("QEMU's migration did not end in " + JOB_TIMEOUT);
      }
      // Events need the 'events' capability the earlier server may not have set: look again
      // now and then.
      qmp.await(change, Duration.ofNanos(Math.min(left, Duration.ofMillis(200).toNanos())));
    }
  }

  /** Closes the overlay nodes a create opened in QEMU for {@code pending}'s disks, tops first. */
  private static void closeOverlays(QemuMonitor qmp, SnapshotDef pending) {
    Set<String> overlays = new HashSet<>();
    for (SnapshotDef.Disk sd : pending.disks()) {
      if (sd.location() == Location.EXTERNAL) {
        overlays.add(sd.file());
      }
    }
    // Each overlay is a protocol node BASE-s under a format node BASE-f (OverlaySwitch).
    Set<String> names = new HashSet<>();
    Set<String> bases = new TreeSet<>();
    for (QemuMonitor.BlockDeviceInfo node : qmp.queryNamedBlockNodes()) {
      names.add(node.nodeName());
      if (node.nodeName().startsWith("cryo-") && overlays.contains(node.file())) {
        bases.add(node.nodeName().replaceFirst("-[fs]$", ""));
      }
    }
    List<String> nodes = new ArrayList<>();
    for (String base : bases) {
      // The format node holds its protocol node open: close it first.
      for (String node : List.of(base + "-f", base + "-s")) {
        if (names.contains(node)) {
          nodes.add(node);
        }
      }
    }
    for (String node : nodes) {
      qmp.blockdevDel(node);
    }
  }

  /**
   * Waits for snapshot jobs an earlier server started in this QEMU to end, and dismisses them: a
   * server killed mid-create leaves QEMU to finish the job on its own.
   */
  private static void awaitSnapshotJobs(QemuMonitor qmp) throws IOException {
    long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
    while (true) {
      CompletableFuture<QemuEvent.JobStatusChange> change =
          qmp.nextEvent(QemuEvent.JobStatusChange.class, null);
      boolean active = false;
      for (QemuMonitor.JobInfo job : qmp.queryJobs()) {
        if (!job.id().startsWith(SnapshotJobs.ID_PREFIX)) {
          continue;
        }
        if ("concluded".equals(job.status())) {
          qmp.jobDismiss(job.id());
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
      // Empty on timeout: the loop's deadline check ends it.
      qmp.await(change, Duration.ofNanos(left));
    }
  }

  private static boolean qemuUses(Domain domain, String file) {
    RunningQemu running = domain.running();
    if (running == null) {
      return false;
    }
    try {
      for (QemuMonitor.BlockInfo b : running.monitor().queryBlock()) {
        if (b.inserted() != null
            && (file.equals(b.inserted().file()) || b.inserted().chain().contains(Path.of(file)))) {
          return true;
        }
      }
      return false;
    } catch (RuntimeException e) {
      return false;
    }
  }
}
