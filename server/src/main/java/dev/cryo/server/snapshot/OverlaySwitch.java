package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.deleteAll;
import static dev.cryo.server.snapshot.TargetDisks.disk;
import static dev.cryo.server.snapshot.TargetDisks.onOverlay;
import static dev.cryo.server.snapshot.TargetDisks.topNodes;

import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.qemu.BlockdevOptions;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.TransactionAction;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * External overlays of a running domain in two steps, so that the switch can happen at a chosen
 * instant: {@link #prepare} creates the files and opens them in QEMU (unattached), {@link
 * #commit} switches every disk in one {@code transaction} of {@code blockdev-snapshot}, {@link
 * #rollback} undoes a prepare that was not committed.
 */
final class OverlaySwitch {
  private static final Logger log = LoggerFactory.getLogger(OverlaySwitch.class);

  private final Domains domains;
  private final QemuImg qemuImg;
  private final Domain domain;
  private final QemuMonitor qmp;
  private final SnapshotDef def;
  final DomainDef newDef;
  private final List<Path> created = new ArrayList<>();
  private final List<String> addedNodes = new ArrayList<>();
  private final List<TransactionAction> actions = new ArrayList<>();

  OverlaySwitch(Domains domains, QemuImg qemuImg, Domain domain, QemuMonitor qmp,
      SnapshotDef def) {
    this.domains = domains;
    this.qemuImg = qemuImg;
    this.domain = domain;
    this.qmp = qmp;
    this.def = def;
    this.newDef = domain.def().copy();
  }

  void prepare(boolean reuse) throws IOException {
    for (SnapshotDef.Disk sd : def.disks()) {
      if (sd.location() != Location.EXTERNAL) {
        continue;
      }
      DiskDef dd = disk(newDef, sd.name());
      Path overlay = Path.of(sd.file());
      if (!reuse) {
        qemuImg.createOverlay(overlay, Path.of(dd.getSourceFile()), dd.getFormat());
        created.add(overlay);
      }
      domains.confinement().grant(domain.runDir(), overlay);
      String top = topNodes(qmp, List.of(sd.name())).get(0);
      String base = "cryo-" + sd.name() + "-" + Integer.toHexString(
          ThreadLocalRandom.current().nextInt(0x100000, 0xFFFFFF));
      qmp.blockdevAdd(new BlockdevOptions.File(base + "-s", overlay, true));
      addedNodes.add(0, base + "-s");
      qmp.blockdevAdd(new BlockdevOptions.Qcow2(base + "-f",
          new BlockdevOptions.NodeRef(base + "-s"), true));
      addedNodes.add(0, base + "-f");
      actions.add(new TransactionAction.BlockdevSnapshot(top, base + "-f"));
      onOverlay(dd, overlay.toString());
    }
  }

  void commit() {
    qmp.transaction(actions);
  }

  void rollback(Exception e) {
    for (String node : addedNodes) {
      try {
        qmp.blockdevDel(node);
      } catch (RuntimeException cleanup) {
        e.addSuppressed(cleanup);
      }
    }
    deleteAll(created, e);
    log.debug("rolled back the overlays of snapshot '{}' of domain '{}'", def.name,
        domain.name());
  }
}
