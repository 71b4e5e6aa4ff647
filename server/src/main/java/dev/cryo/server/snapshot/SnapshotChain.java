package dev.cryo.server.snapshot;

import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import java.nio.file.Path;
import java.util.List;

/**
 * The chain math of deleting an external snapshot, as libvirt 9.x does it: the snapshot froze
 * file {@code base} of a disk and the guest went on writing to {@code overlay}; deleting it
 * commits {@code overlay} into {@code base} and drops {@code overlay} from the chain. Pure
 * functions over file lists, so every refusal has a unit test.
 */
final class SnapshotChain {
  private SnapshotChain() {}

  /** How one disk's overlay leaves the chain. */
  enum Kind {
    /** The overlay is the active layer: active commit, then the disk runs on {@code base}. */
    ACTIVE,
    /** The overlay has an overlay of its own ({@code child}), which is rebased onto base. */
    INNER
  }

  /**
   * One disk's merge.
   *
   * @param disk the disk target, e.g. vda
   * @param overlay the file the snapshot's writes went to, removed by the merge
   * @param base the file the snapshot froze, which receives the overlay's data
   * @param child the image right above {@code overlay} (INNER only)
   */
  record Merge(String disk, Kind kind, Path overlay, Path base, Path child) {}

  /**
   * Checks that libvirt would delete external snapshot {@code snap} with its data, as the only
   * snapshot deleted ({@code withChildren} false) and with at most one child, itself external.
   *
   * @throws FailedPreconditionException naming what stands in the way and what to do instead
   */
  static void checkDeletable(SnapshotDef snap, List<SnapshotDef> children, boolean withChildren) {
    String what = "cannot merge external snapshot '" + snap.name() + "'";
    if (withChildren) {
      throw new FailedPreconditionException(what + " together with its children (libvirt "
          + "refuses this too); delete the snapshots one at a time, newest first, or pass "
          + "metadata_only to forget them and keep their files");
    }
    if (children.size() > 1) {
      throw new FailedPreconditionException(what + ": it has " + children.size()
          + " children (the tree branches there, so its overlay is shared); delete all but one "
          + "branch first, or pass metadata_only");
    }
    if (children.size() == 1 && !children.get(0).isExternal()) {
      throw new FailedPreconditionException(what + ": its child '" + children.get(0).name()
          + "' is an internal snapshot stored in the overlay the merge would remove; delete "
          + "the child first, or pass metadata_only");
    }
    for (SnapshotDef.Disk d : snap.disks()) {
      if (d.location() == Location.EXTERNAL && snap.domain() == null) {
        throw new FailedPreconditionException(what + ": it records no domain definition, so "
            + "the file it froze is unknown; pass metadata_only");
      }
    }
  }

  /**
   * Where the overlay of one disk sits in that disk's current chain.
   *
   * @param chain the disk's backing chain now, active layer first
   * @throws FailedPreconditionException if the overlay is not in the chain (the domain was
   *     reverted to another branch) or its backing file is not the one the snapshot froze
   */
  static Merge plan(String snapshot, String disk, List<Path> chain, Path overlay, Path base) {
    int i = chain.indexOf(overlay);
    if (i < 0) {
      throw new FailedPreconditionException("cannot merge external snapshot '" + snapshot
          + "': its overlay " + overlay + " of disk " + disk + " is not in the disk's current "
          + "backing chain (the domain was reverted to another branch); revert to '" + snapshot
          + "' or one of its descendants first, or pass metadata_only");
    }
    if (i + 1 >= chain.size() || !chain.get(i + 1).equals(base)) {
      throw new FailedPreconditionException("cannot merge external snapshot '" + snapshot
          + "': the backing file of " + overlay + " (disk " + disk + ") is "
          + (i + 1 >= chain.size() ? "missing" : chain.get(i + 1).toString())
          + ", not " + base + " that the snapshot froze; pass metadata_only");
    }
    return i == 0 ? new Merge(disk, Kind.ACTIVE, overlay, base, null)
        : new Merge(disk, Kind.INNER, overlay, base, chain.get(i - 1));
  }
}
