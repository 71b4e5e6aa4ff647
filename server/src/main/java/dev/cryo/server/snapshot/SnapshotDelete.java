package dev.cryo.server.snapshot;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.snapshot.Snapshots.DeleteMode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Deleting snapshots (see {@link Snapshots#delete}): which ones a mode names, libvirt's checks
 * before anything is touched, then each one's data (internal: {@link InternalSnapshots}; external:
 * merged by {@link SnapshotMerge}) and its metadata, children first, with the tree's current
 * snapshot and the children's parent moved as libvirt moves them.
 */
final class SnapshotDelete {
  private final Domains domains;
  private final SnapshotTrees trees;
  private final InternalSnapshots internal;
  private final SnapshotMerge merge;

  SnapshotDelete(Domains domains, SnapshotTrees trees, InternalSnapshots internal,
      SnapshotMerge merge) {
    this.domains = domains;
    this.trees = trees;
    this.internal = internal;
    this.merge = merge;
  }

  List<String> delete(Principal caller, String domainName, String name, DeleteMode mode,
      boolean metadataOnly) {
    Domain domain = domains.get(caller, domainName);
    try (Domain.Job job = domain.beginJob(caller, "snapshot delete")) {
      SnapshotTree tree;
      SnapshotDef snap;
      List<SnapshotDef> targets = new ArrayList<>();
      List<SnapshotDef> snapChildren;
      synchronized (trees) {
        tree = trees.of(domain);
        snap = tree.get(name);
        if (mode != DeleteMode.CHILDREN_ONLY) {
          targets.add(snap);
        }
        if (mode != DeleteMode.ONE) {
          targets.addAll(tree.descendants(name));
        }
        snapChildren = tree.children(name);
      }
      List<SnapshotChain.Merge> merges = List.of();
      if (!metadataOnly) {
        for (SnapshotDef t : targets) {
          if (t.isExternal()) {
            SnapshotChain.checkDeletable(t, t == snap ? snapChildren : List.of(),
                mode != DeleteMode.ONE);
          }
        }
        if (snap.isExternal() && mode == DeleteMode.ONE) {
          merges = merge.plan(domain, snap);
        }
      }
      SnapshotStore store = trees.store(domain);
      Set<String> gone = new HashSet<>();
      // Children first, so a failure leaves a consistent tree.
      for (int i = targets.size() - 1; i >= 0; i--) {
        SnapshotDef t = targets.get(i);
        if (!metadataOnly) {
          if (t.isExternal()) {
            job.progress("merge", 0, 0);
            merge.merge(caller, domain, tree, store, t, merges);
          } else {
            internal.deleteData(domain, t);
          }
        }
        if (t == snap) {
          for (SnapshotDef child : tree.children(name)) {
            child.setParentName(snap.parentName());
            store.save(child);
          }
        }
        store.delete(t.name());
        gone.add(t.name());
        synchronized (trees) {
          String current = tree.current();
          tree.remove(t.name());
          if (t.name().equals(current)) {
            String next = mode == DeleteMode.CHILDREN_ONLY ? name : snap.parentName();
            tree.setCurrent(next);
            store.setCurrent(next);
          }
        }
      }
      return List.copyOf(gone);
    }
  }
}
