package dev.cryo.server.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.Reason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CheckpointTreeTest {
  @TempDir Path temp;

  //      a
  //     / \
  //    b   c
  //    |
  //    d
  static CheckpointTree sample() {
    CheckpointTree tree = new CheckpointTree("vm");
    tree.add(def("a", null, 1));
    tree.add(def("c", "a", 3));
    tree.add(def("b", "a", 2));
    tree.add(def("d", "b", 4));
    tree.setCurrent("d");
    return tree;
  }

  static CheckpointDef def(String name, String parent, long time) {
    CheckpointDef def = new CheckpointDef();
    def.setName(name);
    def.setParent(parent);
    def.setCreationTime(time);
    def.disks().add(new CheckpointDef.Disk("vda", CheckpointDef.Disk.BITMAP, name));
    return def;
  }

  static List<String> names(List<CheckpointDef> defs) {
    return defs.stream().map(CheckpointDef::getName).toList();
  }

  @Test
  void list_filters_followLibvirtFlags() {
    CheckpointTree tree = sample();

    assertThat(names(tree.list(CheckpointTree.Filter.ALL))).containsExactly("a", "b", "d", "c");
    assertThat(names(tree.list(new CheckpointTree.Filter(true, false, false))))
        .containsExactly("a");
    assertThat(names(tree.list(new CheckpointTree.Filter(false, true, false))))
        .containsExactly("d", "c");
    assertThat(names(tree.list(new CheckpointTree.Filter(false, false, true))))
        .containsExactly("a", "b");
    assertThat(names(tree.children("a"))).containsExactly("b", "c");
    assertThat(names(tree.descendants("a"))).containsExactly("b", "d", "c");
    assertThat(names(tree.ancestry("d"))).containsExactly("d", "b", "a");
  }

  @Test
  void add_duplicateName_alreadyExists() {
    CheckpointTree tree = sample();
    assertThatThrownBy(() -> tree.add(def("b", "a", 9)))
        .hasFieldOrPropertyWithValue("reason", Reason.CHECKPOINT_EXISTS);
    assertThat(tree.size()).isEqualTo(4);
  }

  @Test
  void add_unknownParent_notFound() {
    CheckpointTree tree = sample();
    assertThatThrownBy(() -> tree.add(def("e", "zz", 9)))
        .hasFieldOrPropertyWithValue("reason", Reason.CHECKPOINT_NOT_FOUND);
  }

  @Test
  void remove_middle_reparentsChildrenAndMovesCurrent() {
    CheckpointTree tree = sample();
    tree.remove("b");
    assertThat(tree.get("d").getParent()).isEqualTo("a");
    assertThat(names(tree.children("a"))).containsExactly("c", "d");
    tree.remove("d");
    assertThat(tree.current()).isEqualTo("a");
  }

  @Test
  void get_unknown_notFound() {
    assertThatThrownBy(() -> sample().get("nope"))
        .hasFieldOrPropertyWithValue("reason", Reason.CHECKPOINT_NOT_FOUND)
        .hasMessageContaining("nope");
  }

  @Test
  void store_writeLoad_roundTripsTreeAndCurrent() throws Exception {
    CheckpointStore store = new CheckpointStore(temp.resolve("checkpoints"));
    CheckpointTree tree = sample();
    for (CheckpointDef d : tree.list(CheckpointTree.Filter.ALL)) {
      store.write(d);
    }
    store.writeCurrent("d");
    Files.writeString(temp.resolve("checkpoints/.x.xml.tmp"), "half-written");

    CheckpointTree loaded = store.load("vm");

    assertThat(names(loaded.list(CheckpointTree.Filter.ALL))).containsExactly("a", "b", "d", "c");
    assertThat(loaded.current()).isEqualTo("d");
    assertThat(loaded.get("d").getParent()).isEqualTo("b");
    assertThat(loaded.get("a").disks()).extracting(CheckpointDef.Disk::getBitmap)
        .containsExactly("a");
    store.delete("c");
    assertThat(store.load("vm").contains("c")).isFalse();
  }
}
