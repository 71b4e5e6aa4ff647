package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.JOB_TIMEOUT;
import static dev.cryo.server.snapshot.SnapshotJobs.failure;
import static dev.cryo.server.snapshot.SnapshotJobs.jobId;
import static dev.cryo.server.snapshot.TargetDisks.disk;
import static dev.cryo.server.snapshot.TargetDisks.topNodes;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QemuJob;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuRefusedException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Internal snapshots: memory and disk state kept inside the domain's own qcow2 images. A running
 * domain's are QMP {@code snapshot-save} / {@code snapshot-load} / {@code snapshot-delete} jobs;
 * a shut-off one's, {@code qemu-img snapshot}. QEMU addresses only a disk's active layer, so
 * revert and a live delete first check that the snapshot's image still is that layer.
 */
final class InternalSnapshots {
  private final Domains domains;
  private final QemuImg qemuImg;

  InternalSnapshots(Domains domains, QemuImg qemuImg) {
    this.domains = domains;
    this.qemuImg = qemuImg;
  }

  /** A running domain's memory and disks into its qcow2 images: QMP {@code snapshot-save}. */
  void create(Domain domain, RunningQemu running, SnapshotDef def) {
    QemuMonitor qmp = running.monitor();
    try {
      List<String> nodes = topNodes(qmp, def.internalDisks());
      qmp.runJob(new QemuJob.SnapshotSave(jobId("save"), def.name, nodes.get(0), nodes),
          JOB_TIMEOUT);
    } catch (QemuRefusedException e) {
      throw new FailedPreconditionException("QEMU could not take internal snapshot '" + def.name
          + "' of domain '" + domain.name() + "': " + e.description(), e);
    }
  }

  /**
   * Loads memory and disks back from the images (QMP {@code snapshot-load}), launching QEMU if
   * the domain is off; ends running or paused as the snapshot was, unless {@code flags} say.
   */
  void revertWithMemory(Domain domain, SnapshotDef snap, Snapshots.RevertFlags flags) {
    requireStillActive(domain, snap, "revert to it without corrupting later external snapshots");
    RunningQemu running = domain.running();
    boolean launched = false;
    if (running == null) {
      running = domains.launch(domain, QemuCommandLine.Incoming.NONE);
      launched = true;
    }
    QemuMonitor qmp = running.monitor();
    try {
      List<String> nodes = topNodes(qmp, snap.internalDisks());
      qmp.runJob(new QemuJob.SnapshotLoad(jobId("load"), snap.name(), nodes.get(0), nodes),
          JOB_TIMEOUT);
      boolean wantRunning = flags.endsRunning(snap);
      String status = qmp.queryStatus().status();
      if (wantRunning && !"running".equals(status)) {
        qmp.cont();
      } else if (!wantRunning && "running".equals(status)) {
        qmp.stop();
      }
      domains.setState(domain, wantRunning ? DomainState.RUNNING : DomainState.PAUSED,
          StateReason.FROM_SNAPSHOT, launched ? DomainEvent.Type.STARTED : null);
    } catch (RuntimeException e) {
      if (launched) {
        domains.abortLaunch(domain, running);
      }
      throw failure("QEMU could not revert domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
  }

  /**
   * Applies a disk-only snapshot to the images ({@code qemu-img snapshot -a}) of the domain,
   * shut off first; starts it again only if {@code flags} ask.
   */
  void revertDisks(Principal caller, Domain domain, SnapshotDef snap,
      Snapshots.RevertFlags flags) {
    requireStillActive(domain, snap, "revert to it without corrupting later external snapshots");
    if (domain.running() != null) {
      domains.destroy(caller, domain.name(), false);
    }
    DomainDef def = domain.def();
    try {
      for (String target : snap.internalDisks()) {
        qemuImg.snapshotApply(Path.of(disk(def, target).getSourceFile()), snap.name());
      }
    } catch (IOException e) {
      throw failure("qemu-img could not revert domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
    if (flags.running() || flags.paused()) {
      domains.start(caller, domain.name(), flags.paused());
    }
  }

  /**
   * Removes {@code snap}'s data from the domain's images: QMP {@code snapshot-delete} while it
   * runs, {@code qemu-img snapshot -d} when it is off. Nothing to do without internal disks.
   */
  void deleteData(Domain domain, SnapshotDef snap) {
    List<String> targets = snap.internalDisks();
    if (targets.isEmpty()) {
      return;
    }
    RunningQemu running = domain.running();
    try {
      if (running != null) {
        requireStillActive(domain, snap, "delete it while the domain runs; shut it down first");
        running.monitor().runJob(new QemuJob.SnapshotDelete(jobId("delete"), snap.name(),
            topNodes(running.monitor(), targets)), JOB_TIMEOUT);
      } else {
        for (String target : targets) {
          Path image = imageOf(domain, snap, target);
          if (qemuImg.snapshotTags(image).contains(snap.name())) {
            qemuImg.snapshotDelete(image, snap.name());
          }
        }
      }
    } catch (IOException e) {
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
    for (String target : snap.internalDisks()) {
      Path image = imageOf(domain, snap, target);
      if (!image.equals(Path.of(disk(now, target).getSourceFile()))) {
        throw new FailedPreconditionException("internal snapshot '" + snap.name() + "' lives in "
            + image + ", which is now the backing file of an external overlay of disk " + target
            + "; cannot " + what);
      }
    }
  }
}
