package dev.cryo.server.snapshot;

import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.qemu.QemuMonitor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A domain's disks by target name ({@code vda}), as snapshots name them: in its definition, and
 * as the block nodes and files QEMU has for them.
 */
final class TargetDisks {
  private TargetDisks() {}

  /** The disk {@code target} of {@code def}; FAILED_PRECONDITION if it has none. */
  static DiskDef disk(DomainDef def, String target) {
    for (DiskDef d : def.disks()) {
      if (d.getTargetDev().equals(target)) {
        return d;
      }
    }
    throw new FailedPreconditionException("domain '" + def.getName() + "' no longer has disk '"
        + target + "'");
  }

  /** Points {@code disk} at the qcow2 {@code overlay} a snapshot or revert put on top of it. */
  static void onOverlay(DiskDef disk, String overlay) {
    disk.setSourceFile(overlay);
    disk.setFormat(DiskDef.QCOW2);
  }

  /** The node each guest disk currently writes to (the top of its chain), by target. */
  static List<String> topNodes(QemuMonitor qmp, List<String> targets) {
    Map<String, String> byTarget = new HashMap<>();
    for (QemuMonitor.BlockInfo b : qmp.queryBlock()) {
      if (b.inserted() != null) {
        for (String t : targets) {
          if (isDeviceOf(b, t)) {
            byTarget.put(t, b.inserted().nodeName());
          }
        }
      }
    }
    List<String> out = new ArrayList<>();
    for (String t : targets) {
      String node = byTarget.get(t);
      if (node == null) {
        throw noNode(t);
      }
      out.add(node);
    }
    return out;
  }

  /** The files of a running disk's chain, active layer first, from {@code query-block}. */
  static List<Path> liveChain(QemuMonitor qmp, String target) {
    List<Path> chain = new ArrayList<>();
    for (QemuMonitor.BlockInfo b : qmp.queryBlock()) {
      if (b.inserted() != null && isDeviceOf(b, target)) {
        chain.addAll(b.inserted().chain());
      }
    }
    if (chain.isEmpty()) {
      throw noNode(target);
    }
    return chain;
  }

  /** Whether QEMU's block device {@code b} is the guest's disk {@code target}. */
  private static boolean isDeviceOf(QemuMonitor.BlockInfo b, String target) {
    if (b.qdev() != null && b.qdev().contains("/virtio-" + target + "/")) {
      return true;
    }
    // a disk on IDE, SATA or SCSI has libvirt's id (sata0-0-1): its nodes carry the target
    return b.qdev() != null && !b.qdev().contains("/virtio-") && b.inserted() != null
        && b.inserted().nodeName() != null
        && b.inserted().nodeName().startsWith("cryo-" + target + "-");
  }

  private static FailedPreconditionException noNode(String target) {
    return new FailedPreconditionException("QEMU has no block node for disk '" + target + "'");
  }
}
