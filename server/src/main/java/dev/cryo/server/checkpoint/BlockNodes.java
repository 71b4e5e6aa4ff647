package dev.cryo.server.checkpoint;

import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.qemu.QemuMonitor.BlockDeviceInfo;
import dev.cryo.server.qemu.QemuMonitor.DirtyBitmap;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuSpec;
import dev.cryo.server.qemu.TransactionAction;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A running domain's block nodes and their dirty bitmaps, through its QEMU monitor. */
final class BlockNodes {
  private BlockNodes() {}

  /** The named bitmaps of every node, by node name, then by bitmap name. */
  static Map<String, Map<String, DirtyBitmap>> bitmaps(RunningQemu qemu) {
    Map<String, Map<String, DirtyBitmap>> out = new HashMap<>();
    for (BlockDeviceInfo node : qemu.monitor().queryNamedBlockNodes()) {
      Map<String, DirtyBitmap> bitmaps = new HashMap<>();
      for (DirtyBitmap b : node.dirtyBitmaps()) {
        if (b.name() != null) { // not an anonymous one, e.g. the copy bitmap of a backup job
          bitmaps.put(b.name(), b);
        }
      }
      out.put(node.nodeName(), bitmaps);
    }
    return out;
  }

  static TransactionAction bitmapAdd(String node, String name) {
    return new TransactionAction.BitmapAdd(node, name, true);
  }

  static TransactionAction bitmapRemove(String node, String name) {
    return new TransactionAction.BitmapRemove(node, name);
  }

  static TransactionAction bitmapMerge(String node, String target, String source) {
    return new TransactionAction.BitmapMerge(node, target, List.of(source));
  }

  /**
   * The node disk {@code target} writes to now: the top of its chain. An external snapshot taken
   * while the guest runs puts an overlay above the format node QEMU started with; after a restart
   * the overlay is the format node again.
   */
  static String activeNode(QemuMonitor qmp, String target) {
    String prefix = "cryo-" + target + "-";
    for (QemuMonitor.BlockInfo b : qmp.queryBlock()) {
      if (b.inserted() != null && b.inserted().nodeName() != null
          && b.inserted().nodeName().startsWith(prefix)) {
        return b.inserted().nodeName();
      }
    }
    return formatNode(target);
  }

  /** The node name of the format layer of disk {@code target}, as QemuSpec.Disk names it. */
  static String formatNode(String target) {
    return new QemuSpec.Disk(target, Path.of("/"), QemuSpec.DiskFormat.QCOW2, false).formatNode();
  }
}
