package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.deleteAll;
import static dev.cryo.server.snapshot.SnapshotJobs.failure;
import static dev.cryo.server.snapshot.TargetDisks.disk;
import static dev.cryo.server.snapshot.TargetDisks.onOverlay;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.FailPoints;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.image.Compression;
import dev.cryo.server.jobs.Cancel;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.jobs.RestoreJob;
import dev.cryo.server.jobs.SaveJob;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * External snapshots of a running domain, and reverting to external snapshots. Disks: qcow2
 * overlays over the files they freeze, switched to by a QMP {@code transaction} of {@code
 * blockdev-snapshot} ({@link OverlaySwitch}); the domain definition then names them. Memory: a
 * libvirt-format save image written by the save path ({@link SaveJob}) while the guest is paused,
 * the disks switched at that same paused instant; reverting restores that image on fresh
 * overlays. A shut-off domain's external overlays are made by {@link SnapshotCreate}.
 */
final class ExternalSnapshots {
  private final Domains domains;
  private final QemuImg qemuImg;
  private final ImageJobs images;
  private final FailPoints failPoints;

  /**
   * @param images the save and restore jobs (the memory file is a save image)
   * @param failPoints where a test may stop the server mid-create
   */
  ExternalSnapshots(Domains domains, QemuImg qemuImg, ImageJobs images, FailPoints failPoints) {
    this.domains = domains;
    this.qemuImg = qemuImg;
    this.images = images;
    this.failPoints = failPoints;
  }

  /**
   * Disks only, of a running domain: overlays created and opened, then switched to in one
   * QMP {@code transaction}; the definition then names them.
   */
  void createDisks(Principal caller, Domain domain, RunningQemu running, SnapshotDef def,
      Snapshots.CreateFlags flags) {
    OverlaySwitch overlays = new OverlaySwitch(domains, qemuImg, domain, running.monitor(), def);
    try {
      overlays.prepare(flags.reuseExternal());
      overlays.commit();
    } catch (IOException | RuntimeException e) {
      overlays.rollback(e);
      throw failure("QEMU could not take external snapshot '" + def.name + "' of domain '"
          + domain.name() + "'", e);
    }
    // QEMU now writes to the overlays: the definition must say so before anything else.
    domains.define(caller, overlays.newDef);
  }

  /**
   * External memory (and external disks at the same instant), as libvirt does it: the overlays
   * are created and opened while the guest runs; the guest is paused and its memory saved as a
   * libvirt-format save image into the memory file (the save path, ending paused); while it is
   * still paused the disks switch to the overlays in one QMP transaction; then it resumes (or is
   * stopped, for halt). Aborted or failed before the switch, everything is undone and the guest
   * goes on as it was.
   */
  void createWithMemory(Principal caller, Domain domain, Domain.Job job, RunningQemu running,
      SnapshotDef def, Snapshots.CreateFlags flags) {
    boolean wasRunning = domain.state() == DomainState.RUNNING;
    Path memory = Path.of(def.memoryFile());
    OverlaySwitch overlays = new OverlaySwitch(domains, qemuImg, domain, running.monitor(), def);
    Cancel cancel = new Cancel();
    boolean saved = false;
    try {
      job.progress("disks", 0, 0);
      overlays.prepare(flags.reuseExternal());
      job.onAbort(cancel::cancel);
      if (job.abortRequested()) {
        throw aborted(domain, def, null);
      }
      long total = domain.def().memoryBytes();
      job.progress("memory", 0, total);
      images.save().toFile(caller, domain.name(), memory, new SaveJob.Options(
          Compression.RAW, 0, SaveJob.After.PAUSED, flags.live()),
          (phase, done, estimated, rate) -> job.progress("memory", done, estimated), cancel);
      saved = true;
      // Past this point the snapshot is all but taken; an abort still undoes it.
      if (job.abortRequested()) {
        throw aborted(domain, def, null);
      }
      job.progress("disks", total, total);
      job.onAbort(null);
      failPoints.reach(FailPoints.SNAPSHOT_MEMORY_SAVED);
      overlays.commit();
      failPoints.reach(FailPoints.SNAPSHOT_DISKS_SWITCHED);
    } catch (IOException | RuntimeException e) {
      job.onAbort(null);
      overlays.rollback(e);
      if (saved) {
        deleteAll(List.of(memory), e);
        resumeAfterSave(domain, running, wasRunning, e);
      }
      if (cancel.isCancelled() || job.abortRequested()) {
        throw aborted(domain, def, e);
      }
      throw failure("could not take external snapshot '" + def.name + "' of domain '"
          + domain.name() + "'", e);
    }
    domains.define(caller, overlays.newDef);
    if (!flags.halt()) {
      resumeAfterSave(domain, running, wasRunning, null);
    }
  }

  private static CancelledException aborted(Domain domain, SnapshotDef def, Exception cause) {
    return new CancelledException("snapshot '" + def.name + "' of domain '" + domain.name()
        + "' was aborted (AbortDomainJob, or the client cancelled the call); nothing was kept "
        + "and the guest goes on as before", cause);
  }

  /** The save left the guest paused with its disks handed over; give them back and run on. */
  private void resumeAfterSave(Domain domain, RunningQemu running, boolean wasRunning,
      Exception failure) {
    try {
      if (wasRunning) {
        running.monitor().cont();
        domains.setState(domain, DomainState.RUNNING, StateReason.UNPAUSED,
            DomainEvent.Type.RESUMED);
      } else {
        domains.setState(domain, DomainState.PAUSED, StateReason.SNAPSHOT, null);
      }
    } catch (RuntimeException e) {
      if (failure != null) {
        failure.addSuppressed(e);
        return;
      }
      throw failure("QEMU could not resume domain '" + domain.name() + "' after the snapshot",
          e);
    }
  }

  /**
   * A disk-only external snapshot: the domain (destroyed if it runs) gets fresh overlays over
   * the snapshot's files; it starts again if it ran, or if {@code flags} ask.
   */
  void revert(Principal caller, Domain domain, SnapshotDef snap, Snapshots.RevertFlags flags) {
    boolean wasActive = domain.running() != null;
    List<Path> created = new ArrayList<>();
    DomainDef newDef = revertOverlays(domain, snap, created);
    if (wasActive) {
      domains.destroy(caller, domain.name(), false);
    }
    domains.define(caller, newDef);
    boolean start = flags.running() || flags.paused()
        || (!"shutoff".equals(snap.state()) && wasActive)
        || "disk-snapshot".equals(snap.state());
    if (start) {
      domains.start(caller, domain.name(), flags.paused());
    }
  }

  /**
   * The domain definition with a fresh overlay ({@code IMAGE.SNAPSHOT.revert-XXXX}) over each
   * file the snapshot froze, so that the later snapshots' files stay as they are (the tree
   * branches). The overlays created are added to {@code created}; on failure they are removed.
   */
  private DomainDef revertOverlays(Domain domain, SnapshotDef snap, List<Path> created) {
    DomainDef then = snap.domain();
    if (then == null) {
      throw new FailedPreconditionException("snapshot '" + snap.name() + "' records no domain "
          + "definition, so Cryo cannot tell which files to revert to");
    }
    DomainDef newDef = domain.def().copy();
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
        onOverlay(disk(newDef, sd.name()), overlay.toString());
      }
    } catch (IOException | RuntimeException e) {
      deleteAll(created, e);
      throw failure("could not prepare revert of domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
    return newDef;
  }

  /**
   * External memory, as libvirt 9.x does it: the domain (destroyed if it runs) is restored from
   * the snapshot's memory image, on fresh overlays over the snapshot's disk files. Ends running
   * or paused as the snapshot was, unless {@code flags} say otherwise.
   */
  void revertWithMemory(Principal caller, Domain domain, Domain.Job job, SnapshotDef snap,
      Snapshots.RevertFlags flags) {
    Path image = Path.of(snap.memoryFile());
    if (!Files.isRegularFile(image)) {
      throw new FailedPreconditionException("the memory file " + image + " of snapshot '"
          + snap.name() + "' is gone; the snapshot cannot be reverted (delete it with "
          + "metadata_only)");
    }
    DomainDef oldDef = domain.def();
    List<Path> created = new ArrayList<>();
    DomainDef newDef = revertOverlays(domain, snap, created);
    boolean wantRunning = flags.endsRunning(snap);
    Cancel cancel = new Cancel();
    try {
      if (domain.running() != null) {
        domains.destroy(caller, domain.name(), false);
      }
      job.progress("memory", 0, 0);
      job.onAbort(cancel::cancel);
      if (job.abortRequested()) {
        cancel.cancel();
      }
      images.restore().fromFile(caller, image, new RestoreJob.Options(wantRunning
          ? RestoreJob.Start.RUNNING : RestoreJob.Start.PAUSED, DomainXml.format(newDef)),
          cancel);
      job.onAbort(null);
    } catch (RuntimeException e) {
      job.onAbort(null);
      deleteAll(created, e);
      try {
        domains.define(caller, oldDef);
      } catch (RuntimeException cleanup) {
        e.addSuppressed(cleanup);
      }
      if (cancel.isCancelled()) {
        throw new CancelledException("revert of domain '" + domain.name() + "' to snapshot '"
            + snap.name() + "' was aborted; the domain is shut off on its previous definition",
            e);
      }
      throw failure("could not revert domain '" + domain.name() + "' to snapshot '"
          + snap.name() + "'", e);
    }
    domains.setState(domain, wantRunning ? DomainState.RUNNING : DomainState.PAUSED,
        StateReason.FROM_SNAPSHOT, null);
  }
}
