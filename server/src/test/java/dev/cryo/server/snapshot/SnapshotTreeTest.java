package dev.cryo.server.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.Reason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tree and its filters, and the store that persists it.
 *
 * <pre>
 * a (running, internal)
 * ├── b (shutoff, internal)
 * │   └── c (disk-snapshot, external)
 * └── d (running, internal)     (a branch made after reverting to a)
 * e (disk-snapshot, external)   (a second root)
 * </pre>
 */
@Timeout(30)
class SnapshotTreeTest {
  @TempDir Path dir;
  SnapshotTree tree;

  @BeforeEach
  void build() {
    tree = new SnapshotTree();
    tree.put(snap("a", null, 10, "running", false));
    tree.put(snap("b", "a", 20, "shutoff", false));
    tree.put(snap("c", "b", 30, "disk-snapshot", true));
    tree.put(snap("d", "a", 40, "running", false));
    tree.put(snap("e", null, 50, "disk-snapshot", true));
    tree.setCurrent("d");
  }

  @Test
  void topological_parentsBeforeChildren() {
    assertThat(names(tree.topological())).containsExactly("a", "b", "c", "d", "e");
  }

  @Test
  void list_roots() {
    assertThat(names(tree.list(filter().roots(true).build()))).containsExactly("a", "e");
  }

  @Test
  void list_descendantsAndChildren() {
    assertThat(names(tree.list(filter().descendantsOf("a").build())))
        .containsExactly("b", "c", "d");
    assertThat(names(tree.list(filter().descendantsOf("a").directChildrenOnly(true).build())))
        .containsExactly("b", "d");
  }

  @Test
  void list_leavesAndNonLeaves() {
    assertThat(names(tree.list(filter().leaves(true).build()))).containsExactly("c", "d", "e");
    assertThat(names(tree.list(filter().nonLeaves(true).build()))).containsExactly("a", "b");
  }

  @Test
  void list_stateGroup() {
    assertThat(names(tree.list(filter().inactive(true).build()))).containsExactly("b");
    assertThat(names(tree.list(filter().active(true).build()))).containsExactly("a", "d");
    assertThat(names(tree.list(filter().diskOnly(true).build()))).containsExactly("c", "e");
    assertThat(names(tree.list(filter().inactive(true).diskOnly(true).build())))
        .containsExactly("b", "c", "e");
  }

  @Test
  void list_locationGroup_andCombination() {
    assertThat(names(tree.list(filter().internal(true).build()))).containsExactly("a", "b", "d");
    assertThat(names(tree.list(filter().external(true).build()))).containsExactly("c", "e");
    assertThat(names(tree.list(filter().external(true).leaves(true).roots(true).build())))
        .containsExactly("e");
  }

  @Test
  void list_descendantsOfUnknown_isNotFound() {
    assertThatThrownBy(() -> tree.list(filter().descendantsOf("zz").build()))
        .hasFieldOrPropertyWithValue("reason", Reason.SNAPSHOT_NOT_FOUND)
        .hasMessageContaining("zz");
  }

  @Test
  void store_persistsTreeAndCurrent() {
    SnapshotStore store = new SnapshotStore(dir.resolve("snapshots"));
    for (SnapshotDef s : tree.topological()) {
      store.save(s);
    }
    store.setCurrent("d");
    SnapshotTree loaded = store.load();
    assertThat(names(loaded.topological())).containsExactly("a", "b", "c", "d", "e");
    assertThat(loaded.current()).isEqualTo("d");
    assertThat(loaded.get("c").parentName()).isEqualTo("b");
    assertThat(loaded.get("c").isExternal()).isTrue();
  }

  @Test
  void store_pendingIsNotListed_andTempFilesAreIgnored() throws Exception {
    SnapshotStore store = new SnapshotStore(dir.resolve("snapshots"));
    store.save(tree.get("a"));
    store.writePending(snap("half", "a", 60, "running", false));
    Files.writeString(dir.resolve("snapshots/.b.xml.tmp"), "<domainsnapshot><name>b");
    assertThat(names(store.load().topological())).containsExactly("a");
    assertThat(names(store.pending())).containsExactly("half");
    store.clearPending("half");
    assertThat(store.pending()).isEmpty();
  }

  @Test
  void store_unreadableFile_isSkipped() throws Exception {
    SnapshotStore store = new SnapshotStore(dir.resolve("snapshots"));
    store.save(tree.get("a"));
    Files.writeString(dir.resolve("snapshots/bad.xml"), "<!DOCTYPE x><domainsnapshot/>");
    assertThat(names(store.load().topological())).containsExactly("a");
  }

  private static SnapshotDef snap(String name, String parent, long time, String state,
      boolean external) {
    String memory = state.equals("running") ? "internal" : "no";
    String disk = external ? "<disk name='vda' snapshot='external' type='file'><driver "
        + "type='qcow2'/><source file='/i/" + name + "'/></disk>"
        : "<disk name='vda' snapshot='internal'/>";
    return SnapshotXml.parse("<domainsnapshot><name>" + name + "</name><state>" + state
        + "</state>" + (parent == null ? "" : "<parent><name>" + parent + "</name></parent>")
        + "<creationTime>" + time + "</creationTime><memory snapshot='" + memory + "'/><disks>"
        + disk + "</disks></domainsnapshot>", true);
  }

  private static List<String> names(List<SnapshotDef> list) {
    return list.stream().map(SnapshotDef::name).toList();
  }

  private static FilterBuilder filter() {
    return new FilterBuilder();
  }

  /** Test-only builder over the record's many booleans. */
  static final class FilterBuilder {
    boolean roots;
    String descendantsOf;
    boolean direct;
    boolean leaves;
    boolean nonLeaves;
    boolean inactive;
    boolean active;
    boolean diskOnly;
    boolean internal;
    boolean external;

    FilterBuilder roots(boolean v) {
      roots = v;
      return this;
    }

    FilterBuilder descendantsOf(String v) {
      descendantsOf = v;
      return this;
    }

    FilterBuilder directChildrenOnly(boolean v) {
      direct = v;
      return this;
    }

    FilterBuilder leaves(boolean v) {
      leaves = v;
      return this;
    }

    FilterBuilder nonLeaves(boolean v) {
      nonLeaves = v;
      return this;
    }

    FilterBuilder inactive(boolean v) {
      inactive = v;
      return this;
    }

    FilterBuilder active(boolean v) {
      active = v;
      return this;
    }

    FilterBuilder diskOnly(boolean v) {
      diskOnly = v;
      return this;
    }

    FilterBuilder internal(boolean v) {
      internal = v;
      return this;
    }

    FilterBuilder external(boolean v) {
      external = v;
      return this;
    }

    SnapshotFilter build() {
      return new SnapshotFilter(roots, descendantsOf, direct, leaves, nonLeaves, inactive,
          active, diskOnly, internal, external);
    }
  }
}
