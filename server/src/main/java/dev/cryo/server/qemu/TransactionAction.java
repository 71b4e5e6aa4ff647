package dev.cryo.server.qemu;

import java.util.List;
import java.util.Objects;

/**
 * One action of a QMP {@code transaction}: all of them take effect at the same instant, or none
 * does ({@link QemuMonitor#transaction}). Members as in QEMU's {@code qapi/transaction.json}.
 */
public sealed interface TransactionAction {

  /** {@code blockdev-snapshot}: {@code overlay} (opened, no backing) goes over {@code node}. */
  record BlockdevSnapshot(String node, String overlay) implements TransactionAction {
    public BlockdevSnapshot {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(overlay, "overlay");
    }
  }

  /** {@code block-dirty-bitmap-add}: a new bitmap {@code name} on {@code node}. */
  record BitmapAdd(String node, String name, boolean persistent) implements TransactionAction {
    public BitmapAdd {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(name, "name");
    }
  }

  /** {@code block-dirty-bitmap-remove}. */
  record BitmapRemove(String node, String name) implements TransactionAction {
    public BitmapRemove {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(name, "name");
    }
  }

  /** {@code block-dirty-bitmap-merge}: ORs {@code bitmaps} (same node) into {@code target}. */
  record BitmapMerge(String node, String target, List<String> bitmaps)
      implements TransactionAction {
    public BitmapMerge {
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(target, "target");
      bitmaps = List.copyOf(bitmaps);
    }
  }

  /** {@code MirrorSyncMode}: what a backup copies. */
  enum Sync {
    TOP, FULL, NONE, INCREMENTAL, BITMAP;

    String wire() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** {@code BitmapSyncMode}: what a bitmap backup does to its bitmap afterwards. */
  enum BitmapMode {
    ON_SUCCESS, NEVER, ALWAYS;

    String wire() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * {@code blockdev-backup}: a job {@code jobId} copying {@code device} into node {@code target}.
   *
   * @param bitmap the bitmap to read with {@link Sync#BITMAP}; null otherwise
   * @param bitmapMode with {@code bitmap}; null otherwise
   * @param speed bytes per second; 0 for no limit (not sent)
   */
  record BlockdevBackup(String jobId, String device, String target, Sync sync, String bitmap,
      BitmapMode bitmapMode, boolean autoDismiss, long speed) implements TransactionAction {
    public BlockdevBackup {
      Objects.requireNonNull(jobId, "jobId");
      Objects.requireNonNull(device, "device");
      Objects.requireNonNull(target, "target");
      Objects.requireNonNull(sync, "sync");
      if (speed < 0) {
        throw new IllegalArgumentException("speed must not be negative: " + speed);
      }
    }
  }
}
