package dev.cryo.server.snapshot;

import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.Domains;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every domain's snapshot tree, loaded from its {@link SnapshotStore} on first use, after
 * {@link SnapshotRecovery} has ended the creates a killed server left pending. The lock of this
 * object guards the trees: hold it while reading or changing one.
 */
final class SnapshotTrees {
  private static final Logger log = LoggerFactory.getLogger(SnapshotTrees.class);

  private final Domains domains;
  private final SnapshotRecovery recovery;
  /** Loaded trees by domain UUID; guarded by {@code this}. */
  private final Map<String, SnapshotTree> trees = new HashMap<>();

  SnapshotTrees(Domains domains, SnapshotRecovery recovery) {
    this.domains = domains;
    this.recovery = recovery;
  }

  /** Where the domain's snapshot metadata lives: {@code STATE/domains/NAME/snapshots/}. */
  SnapshotStore store(Domain domain) {
    return new SnapshotStore(domains.metadataDir(domain.name()).resolve("snapshots"));
  }

  /** The domain's tree, loaded (and half-created snapshots undone) on first use. */
  synchronized SnapshotTree of(Domain domain) {
    SnapshotTree tree = trees.get(domain.uuid());
    if (tree == null) {
      SnapshotStore store = store(domain);
      for (SnapshotDef pending : store.pending()) {
        recovery.finish(domain, store, pending);
      }
      tree = store.load();
      for (SnapshotDef s : List.copyOf(tree.topological())) {
        // Metadata left by an undefined domain of the same name is not this domain's.
        if (s.domain() != null && !domain.uuid().equals(s.domain().getUuid())) {
          log.warn("domain '{}': dropping snapshot '{}' recorded for another domain (UUID {})",
              domain.name(), s.name(), s.domain().getUuid());
          store.delete(s.name());
          tree.remove(s.name());
        }
      }
      if (tree.current() == null) {
        store.setCurrent(null);
      }
      trees.put(domain.uuid(), tree);
    }
    return tree;
  }
}
