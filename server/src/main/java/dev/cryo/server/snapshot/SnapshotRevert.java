package dev.cryo.server.snapshot;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.AbortSignal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.Snapshots.RevertFlags;
import dev.cryo.server.snapshot.Snapshots.RevertGuard;

/**
 * Reverting to a snapshot (see {@link Snapshots#revert}): the guard asked first, then the
 * strategy the snapshot's kind names (external memory, external disks, internal memory, internal
 * disks), and the reverted-to snapshot made current.
 */
final class SnapshotRevert {
  private final Domains domains;
  private final SnapshotTrees trees;
  private final InternalSnapshots internal;
  private final ExternalSnapshots external;
  private final RevertGuard revertGuard;

  SnapshotRevert(Domains domains, SnapshotTrees trees, InternalSnapshots internal,
      ExternalSnapshots external, RevertGuard revertGuard) {
    this.domains = domains;
    this.trees = trees;
    this.internal = internal;
    this.external = external;
    this.revertGuard = revertGuard;
  }

  SnapshotDef revert(Principal caller, String domainName, String name, RevertFlags flags,
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
}
