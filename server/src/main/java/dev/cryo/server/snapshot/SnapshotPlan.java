package dev.cryo.server.snapshot;

import dev.cryo.server.snapshot.SnapshotDef.Location;

/**
 * The seed-001 table: which combination of domain state, memory request, disk request and the
 * disk-only flag makes which snapshot, and how. One function, {@link #decide}, so the table has one
 * home; each row has a unit test.
 *
 * <pre>
 * domain  memory  disk   disk-only | result
 * offline omit    omit   any       | memory=no disk=int, via qemu-img
 * offline no      omit   any       | memory=no disk=int, via qemu-img
 * offline omit/no no     any       | invalid combination (nothing to snapshot)
 * offline omit/no int    any       | memory=no disk=int, via qemu-img
 * offline omit/no ext    any       | memory=no disk=ext, via qemu-img
 * offline int/ext any    any       | invalid combination (no memory to save)
 * online  omit    omit   off       | memory=int disk=int, via savevm
 * online  omit    omit   on        | memory=no disk=default, via transaction
 * online  omit    no/ext off       | unsupported for now
 * online  omit    no     on        | invalid combination (nothing to snapshot)
 * online  omit    ext    on        | memory=no disk=ext, via transaction
 * online  omit    int    off       | memory=int disk=int, via savevm
 * online  omit    int    on        | unsupported for now
 * online  no      omit   any       | memory=no disk=default, via transaction
 * online  no      no     any       | invalid combination (nothing to snapshot)
 * online  no      int    any       | unsupported for now
 * online  no      ext    any       | memory=no disk=ext, via transaction
 * online  int/ext any    on        | invalid combination (disk-only vs. memory)
 * online  int     omit   off       | memory=int disk=int, via savevm
 * online  int     no/ext off       | unsupported for now
 * online  int     int    off       | memory=int disk=int, via savevm
 * online  ext     omit   off       | memory=ext disk=default, via migrate+trans
 * online  ext     no     off       | memory=ext disk=no, via migrate
 * online  ext     int    off       | unsupported for now
 * online  ext     ext    off       | memory=ext disk=ext, via migrate+transaction
 * </pre>
 *
 * "default" disks of an online snapshot are external (libvirt's default for disk-only and
 * external-memory snapshots). "savevm" is QMP {@code snapshot-save}; "migrate" is the save path.
 */
public final class SnapshotPlan {
  private SnapshotPlan() {}

  /** What the caller asked for memory or for the disks; OMIT when the XML says nothing. */
  public enum Request {
    OMIT, NO, INTERNAL, EXTERNAL;

    String text() {
      return name().toLowerCase();
    }
  }

  /** How the snapshot is taken. */
  public enum Method {
    /** {@code qemu-img snapshot -c} or {@code qemu-img create -b} on a shut-off domain. */
    QEMU_IMG,
    /** QMP {@code snapshot-save} job: memory and disks inside the qcow2 images. */
    SAVEVM,
    /** QMP {@code transaction} of {@code blockdev-snapshot}: external overlays, no memory. */
    TRANSACTION,
    /** Memory through the save path, no disk snapshot. */
    MIGRATE,
    /** Memory through the save path and external disks at the same instant. */
    MIGRATE_TRANSACTION
  }

  /** What the table says: a valid plan, an invalid combination, or unsupported for now. */
  public enum Verdict { VALID, INVALID, UNSUPPORTED }

  /**
   * The table's answer.
   *
   * @param memory the resolved memory location (VALID only)
   * @param disk the resolved disk location (VALID only)
   * @param message for INVALID and UNSUPPORTED, what is wrong, naming the combination
   */
  public record Decision(Verdict verdict, Location memory, Location disk, Method method,
      String message) {
    static Decision valid(Location memory, Location disk, Method method) {
      return new Decision(Verdict.VALID, memory, disk, method, null);
    }
  }

  /**
   * Looks up the table.
   *
   * @param online whether the domain is running or paused
   * @param memory the memory request
   * @param disk the disk request (aggregate of the per-disk {@code snapshot} attributes)
   * @param diskOnly libvirt's DISK_ONLY flag
   */
  public static Decision decide(boolean online, Request memory, Request disk, boolean diskOnly) {
    String combo = (online ? "running" : "shut-off") + " domain with memory="
        + memory.text() + ", disks=" + disk.text() + (diskOnly ? ", disk-only" : "");
    if (!online) {
      if (memory == Request.INTERNAL || memory == Request.EXTERNAL) {
        return invalid(combo, "a shut-off domain has no memory to save; use memory "
            + "snapshot='no' or start the domain");
      }
      return switch (disk) {
        case OMIT, INTERNAL -> Decision.valid(Location.NO, Location.INTERNAL, Method.QEMU_IMG);
        case EXTERNAL -> Decision.valid(Location.NO, Location.EXTERNAL, Method.QEMU_IMG);
        case NO -> invalid(combo, "nothing to snapshot: every disk has snapshot='no'");
      };
    }
    if (diskOnly && (memory == Request.INTERNAL || memory == Request.EXTERNAL)) {
      return invalid(combo, "disk-only conflicts with memory snapshot='" + memory.text()
          + "'; drop disk-only or use memory snapshot='no'");
    }
    switch (memory) {
      case OMIT:
        if (diskOnly) {
          return switch (disk) {
            case OMIT, EXTERNAL ->
                Decision.valid(Location.NO, Location.EXTERNAL, Method.TRANSACTION);
            case NO -> invalid(combo, "nothing to snapshot: disk-only with every disk "
                + "snapshot='no'");
            case INTERNAL -> unsupported(combo, "QEMU cannot take an internal disk snapshot "
                + "of a running domain without its memory; drop disk-only or use external disks");
          };
        }
        return switch (disk) {
          case OMIT, INTERNAL -> Decision.valid(Location.INTERNAL, Location.INTERNAL,
              Method.SAVEVM);
          case NO, EXTERNAL -> unsupported(combo, "say memory snapshot='no' with disk-only "
              + "for external disks, or snapshot='external' for memory");
        };
      case NO:
        return switch (disk) {
          case OMIT, EXTERNAL ->
              Decision.valid(Location.NO, Location.EXTERNAL, Method.TRANSACTION);
          case NO -> invalid(combo, "nothing to snapshot: memory and every disk have "
              + "snapshot='no'");
          case INTERNAL -> unsupported(combo, "QEMU cannot take an internal disk snapshot of a "
              + "running domain without its memory; use external disks or include memory");
        };
      case INTERNAL:
        return switch (disk) {
          case OMIT, INTERNAL -> Decision.valid(Location.INTERNAL, Location.INTERNAL,
              Method.SAVEVM);
          case NO, EXTERNAL -> unsupported(combo, "internal memory is stored inside the qcow2 "
              + "disks, so they must be internal too");
        };
      case EXTERNAL:
      default:
        return switch (disk) {
          case OMIT, EXTERNAL -> Decision.valid(Location.EXTERNAL, Location.EXTERNAL,
              Method.MIGRATE_TRANSACTION);
          case NO -> Decision.valid(Location.EXTERNAL, Location.NO, Method.MIGRATE);
          case INTERNAL -> unsupported(combo, "external memory with internal disks is not "
              + "supported; use external disks");
        };
    }
  }

  private static Decision invalid(String combo, String why) {
    return new Decision(Verdict.INVALID, null, null, null, "invalid combination (" + combo
        + "): " + why);
  }

  private static Decision unsupported(String combo, String why) {
    return new Decision(Verdict.UNSUPPORTED, null, null, null, "unsupported combination ("
        + combo + "): " + why);
  }
}
