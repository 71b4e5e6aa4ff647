package dev.cryo.server.snapshot;

import static dev.cryo.server.snapshot.SnapshotJobs.JOB_TIMEOUT;
import static dev.cryo.server.snapshot.SnapshotJobs.failure;
import static dev.cryo.server.snapshot.SnapshotJobs.jobId;
import static dev.cryo.server.snapshot.TargetDisks.disk;
import static dev.cryo.server.snapshot.TargetDisks.liveChain;
import static dev.cryo.server.snapshot.TargetDisks.topNodes;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QemuJob;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuRefusedException;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Merging an external snapshot away, as libvirt 9.x does: {@link #plan} finds where each of its
 * overlays sits in the disk's chain now ({@link SnapshotChain} refuses what libvirt refuses);
 * {@link #merge} commits each overlay into the file the snapshot froze (QMP {@code block-commit}
 * while the domain runs, {@code qemu-img commit} when it is off), points the layer above or the
 * disk itself at that file, and removes the overlays and the memory file.
 */
final class SnapshotMerge {
  private static final Logger log = LoggerFactory.getLogger(SnapshotMerge.class);

  private final Domains domains;
  private final QemuImg qemuImg;
  /** Their lock guards the other snapshots' records retargeted after a merge. */
  private final SnapshotTrees trees;

  SnapshotMerge(Domains domains, QemuImg qemuImg, SnapshotTrees trees) {
    this.domains = domains;
    this.qemuImg = qemuImg;
    this.trees = trees;
  }

  /** Where each external disk of {@code snap} sits in the disk's chain now; refuses as libvirt. */
  List<SnapshotChain.Merge> plan(Domain domain, SnapshotDef snap) {
    List<SnapshotChain.Merge> merges = new ArrayList<>();
    DomainDef now = domain.def();
    RunningQemu running = domain.running();
    try {
      for (SnapshotDef.Disk sd : snap.disks()) {
        if (sd.location() != Location.EXTERNAL) {
          continue;
        }
        Path base = Path.of(disk(snap.domain(), sd.name()).getSourceFile());
        List<Path> chain = running != null ? liveChain(running.monitor(), sd.name())
            : qemuImg.backingChain(Path.of(disk(now, sd.name()).getSourceFile())).stream()
                .map(QemuImg.ChainImage::file).toList();
        merges.add(SnapshotChain.plan(snap.name(), sd.name(), chain, Path.of(sd.file()), base));
      }
      if (running != null && !merges.isEmpty()
          && !running.monitor().queryBlockJobs().isEmpty()) {
        throw new FailedPreconditionException("cannot merge external snapshot '" + snap.name()
            + "' while another block job runs on domain '" + domain.name() + "' (a backup?); "
            + "retry when it has finished");
      }
    } catch (IOException e) {
      throw failure("could not read the disk chains of domain '" + domain.name() + "'", e);
    }
    return merges;
  }

  /**
   * Merges external snapshot {@code snap} away (see {@link Snapshots#delete}); the {@code merges}
   * were checked under the same job, so the chains have not changed since.
   */
  void merge(Principal caller, Domain domain, SnapshotTree tree, SnapshotStore store,
      SnapshotDef snap, List<SnapshotChain.Merge> merges) {
    RunningQemu running = domain.running();
    DomainDef newDef = domain.def().copy();
    boolean defChanged = false;
    try {
      for (SnapshotChain.Merge m : merges) {
        String baseFormat = disk(snap.domain(), m.disk()).getFormat();
        if (running != null) {
          commitLive(running.monitor(), m);
        } else {
          qemuImg.commit(m.overlay());
          if (m.kind() == SnapshotChain.Kind.INNER) {
            qemuImg.rebaseUnsafe(m.child(), m.base(), baseFormat);
          }
        }
        if (m.kind() == SnapshotChain.Kind.ACTIVE) {
          DiskDef dd = disk(newDef, m.disk());
          dd.setSourceFile(m.base().toString());
          dd.setFormat(baseFormat);
          defChanged = true;
        }
      }
    } catch (IOException | RuntimeException e) {
      if (defChanged) {
        // Some disks already run on their base: the definition must follow them.
        domains.define(caller, newDef);
      }
      throw failure("could not merge external snapshot '" + snap.name() + "' of domain '"
          + domain.name() + "'", e);
    }
    if (defChanged) {
      domains.define(caller, newDef);
    }
    // Snapshots taken later recorded the overlay as their disk's file; it is the base now.
    synchronized (trees) {
      for (SnapshotDef other : tree.topological()) {
        if (other != snap && other.domain() != null && retarget(other.domain(), merges)) {
          store.save(other);
        }
      }
    }
    for (SnapshotChain.Merge m : merges) {
      try {
        Files.deleteIfExists(m.overlay());
      } catch (IOException e) {
        log.warn("snapshot '{}' merged, but its overlay {} could not be removed: {}",
            snap.name(), m.overlay(), e.getMessage());
      }
    }
    if (snap.memoryFile() != null) {
      try {
        Files.deleteIfExists(Path.of(snap.memoryFile()));
      } catch (IOException e) {
        log.warn("snapshot '{}' deleted, but its memory file {} could not be removed: {}",
            snap.name(), snap.memoryFile(), e.getMessage());
      }
    }
  }

  private static boolean retarget(DomainDef def, List<SnapshotChain.Merge> merges) {
    boolean changed = false;
    for (SnapshotChain.Merge m : merges) {
      for (DiskDef d : def.disks()) {
        if (d.getTargetDev().equals(m.disk())
            && m.overlay().toString().equals(d.getSourceFile())) {
          d.setSourceFile(m.base().toString());
          changed = true;
        }
      }
    }
    return changed;
  }

  /**
   * {@code block-commit} of one overlay into its base in a running QEMU: an active commit
   * (completed when ready, which pivots the device to the base) when the overlay is the active
   * layer, an intermediate commit otherwise (QEMU rebases the layer above). Nodes that the
   * overlay had and that the monitor owns are removed after.
   */
  private static void commitLive(QemuMonitor qmp, SnapshotChain.Merge m) {
    Map<String, String> formatNodes = new HashMap<>();
    Map<String, String> storageNodes = new HashMap<>();
    for (QemuMonitor.BlockDeviceInfo n : qmp.queryNamedBlockNodes()) {
      String file = n.file();
      String nodeName = n.nodeName();
      if ("file".equals(n.drv())) {
        storageNodes.put(file, nodeName);
      } else {
        formatNodes.put(file, nodeName);
      }
    }
    String top = formatNodes.get(m.overlay().toString());
    String base = formatNodes.get(m.base().toString());
    String device = m.kind() == SnapshotChain.Kind.ACTIVE ? top
        : topNodes(qmp, List.of(m.disk())).get(0);
    if (top == null || base == null) {
      throw new FailedPreconditionException("QEMU has no node for " + (top == null
          ? m.overlay() : m.base()) + " of disk " + m.disk());
    }
    // An active commit reaches "ready" and runJob completes it, which pivots to the base.
    qmp.runJob(new QemuJob.BlockCommit(jobId("commit"), device, top, base), JOB_TIMEOUT);
    // Nodes from blockdev-add or -blockdev stay until deleted; auto-named ones went with it.
    Set<String> left = new HashSet<>();
    for (QemuMonitor.BlockDeviceInfo n : qmp.queryNamedBlockNodes()) {
      left.add(n.nodeName());
    }
    for (String node : new String[] {top, storageNodes.get(m.overlay().toString())}) {
      if (node != null && left.contains(node) && !node.startsWith("#")) {
        try {
          qmp.blockdevDel(node);
        } catch (QemuRefusedException e) {
          log.warn("could not remove QEMU node {} of merged overlay {}: {}", node, m.overlay(),
              e.description());
        }
      }
    }
  }
}
