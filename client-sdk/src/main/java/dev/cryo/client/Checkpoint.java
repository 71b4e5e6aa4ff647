package dev.cryo.client;

import java.time.Instant;
import java.util.List;

/**
 * A checkpoint of a domain.
 *
 * @param name its name
 * @param parent the parent's name, or null for a root
 * @param description free text, or empty
 * @param createTime when it was created (seconds precision)
 * @param disks per-disk state, in the domain's disk order
 * @param leaf whether it has no children
 * @param current whether new checkpoints get it as parent
 */
public record Checkpoint(String name, String parent, String description, Instant createTime,
    List<Disk> disks, boolean leaf, boolean current) {
  public Checkpoint {
    disks = List.copyOf(disks);
  }

  /**
   * One disk of a checkpoint.
   *
   * @param name target device, e.g. {@code vda}
   * @param bitmap whether it has a bitmap for this checkpoint
   * @param bitmapName the bitmap's name in the image, or empty
   * @param sizeBytes bytes written since the checkpoint, when asked for; else 0
   */
  public record Disk(String name, boolean bitmap, String bitmapName, long sizeBytes) {}

  /** Total bytes written since the checkpoint over all disks (when asked for). */
  public long sizeBytes() {
    return disks.stream().mapToLong(Disk::sizeBytes).sum();
  }
}
