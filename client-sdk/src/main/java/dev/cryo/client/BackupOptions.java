package dev.cryo.client;

import java.util.List;

/**
 * What a backup covers.
 *
 * @param since incremental since this checkpoint, or null for a full backup
 * @param checkpointXml {@code <domaincheckpoint>} XML of a checkpoint to create at the backup's
 *     instant, or null
 * @param disks the disks (target devices) to back up; empty: every eligible disk
 * @param maxBytesPerSecond limit on the server's copy rate per disk; 0 for none
 */
public record BackupOptions(String since, String checkpointXml, List<String> disks,
    long maxBytesPerSecond) {
  public BackupOptions {
    disks = disks == null ? List.of() : List.copyOf(disks);
    if (maxBytesPerSecond < 0) {
      throw new IllegalArgumentException("maxBytesPerSecond must be >= 0, got "
          + maxBytesPerSecond);
    }
  }

  public BackupOptions(String since, String checkpointXml, List<String> disks) {
    this(since, checkpointXml, disks, 0);
  }

  /** This backup with QEMU's copy rate limited to {@code bytesPerSecond} per disk. */
  public BackupOptions withMaxBytesPerSecond(long bytesPerSecond) {
    return new BackupOptions(since, checkpointXml, disks, bytesPerSecond);
  }

  /** A full backup of every writable disk. */
  public static BackupOptions full() {
    return new BackupOptions(null, null, List.of());
  }

  /** A full backup that also creates checkpoint {@code name}. */
  public static BackupOptions fullWithCheckpoint(String name) {
    return new BackupOptions(null, checkpointXml(name), List.of());
  }

  /** An incremental backup since {@code since} that also creates checkpoint {@code name}. */
  public static BackupOptions incremental(String since, String newCheckpoint) {
    return new BackupOptions(since, newCheckpoint == null ? null : checkpointXml(newCheckpoint),
        List.of());
  }

  private static String checkpointXml(String name) {
    String escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    return "<domaincheckpoint><name>" + escaped + "</name></domaincheckpoint>";
  }
}
