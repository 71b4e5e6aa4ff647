package dev.cryo.server.checkpoint;

import java.nio.file.Path;
import java.util.List;

/**
 * What to back up.
 *
 * @param since the checkpoint an incremental backup starts from, or null for a full backup
 * @param checkpointXml a {@code <domaincheckpoint>} to create at the backup's instant, or null
 * @param disks the disks to back up (empty: every writable disk, or for an incremental every disk
 *     with a bitmap in {@code since}); for a push backup each needs a target
 * @param maxBytesPerSecond limit on QEMU's copy rate per disk (its job {@code speed}); 0: none
 */
public record BackupRequest(String since, String checkpointXml, List<DiskTarget> disks,
    long maxBytesPerSecond) {
  public BackupRequest {
    disks = List.copyOf(disks);
  }

  /**
   * One disk to back up.
   *
   * @param disk target device, e.g. {@code vda}
   * @param target for a push backup: the absolute path of the qcow2 file to create (it must not
   *     exist); null for a streamed backup
   */
  public record DiskTarget(String disk, Path target) {}
}
