package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.SnapshotRequest;
import dev.cryo.client.Snapshots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A snapshot tree of three levels with a branch made after a revert, on a shut-off domain with a
 * real qcow2 disk (so every snapshot is real: qemu-img holds the internal ones), listed with every
 * filter; then the delete variants and their re-parenting, checked against the image.
 *
 * <pre>
 * t1
 * ├── t2
 * │   └── t3
 * └── t4        (after reverting to t1)
 *     └── e5    (external)
 * </pre>
 */
@Timeout(300)
class SnapshotTreeTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Snapshots snapshots;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    snapshots = cryo.client().snapshots();
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  @LocalServer("kills and restarts the server")
  @Test
  void tree_threeLevelsWithBranch_filtersAndDeletes() throws Exception {
    String name = "tree-" + System.nanoTime();
    domain = name;
    Path images = Files.createDirectories(temp.resolve("tree"));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "16M");
    domains.define(TestGuest.xml(name, 64, 0, disk, "qcow2"));
    try {
      snap(name, "t1");
      snap(name, "t2");
      snap(name, "t3");
      snapshots.revert(name, "t1", Snapshots.RevertTo.AS_SNAPSHOT);
      assertThat(snapshots.current(name).name()).isEqualTo("t1");
      snap(name, "t4");
      snapshots.create(name, "<domainsnapshot><name>e5</name><disks><disk name='vda' "
          + "snapshot='external'/></disks></domainsnapshot>");

      assertThat(names(SnapshotFilter.ALL)).containsExactly("t1", "t2", "t3", "t4", "e5");
      assertThat(snapshots.get(name, "t4").parent()).as("branch after revert").isEqualTo("t1");
      assertThat(snapshots.parent(name, "t3").name()).isEqualTo("t2");
      assertThat(snapshots.children(name, "t1")).extracting(Snapshot::name)
          .containsExactly("t2", "t4");
      assertThat(names(SnapshotFilter.ALL.withRoots())).containsExactly("t1");
      assertThat(names(SnapshotFilter.ALL.withDescendantsOf("t1", false)))
          .containsExactly("t2", "t3", "t4", "e5");
      assertThat(names(SnapshotFilter.ALL.withDescendantsOf("t1", true)))
          .containsExactly("t2", "t4");
      assertThat(names(SnapshotFilter.ALL.withLeaves(true, false))).containsExactly("t3", "e5");
      assertThat(names(SnapshotFilter.ALL.withLeaves(false, true)))
          .containsExactly("t1", "t2", "t4");
      assertThat(names(SnapshotFilter.ALL.withStates(true, false, false)))
          .containsExactly("t1", "t2", "t3", "t4", "e5");
      assertThat(names(SnapshotFilter.ALL.withStates(false, true, false))).isEmpty();
      assertThat(names(SnapshotFilter.ALL.withStates(false, false, true))).isEmpty();
      assertThat(names(SnapshotFilter.ALL.withLocations(true, false)))
          .containsExactly("t1", "t2", "t3", "t4");
      assertThat(names(SnapshotFilter.ALL.withLocations(false, true))).containsExactly("e5");
      assertThat(names(SnapshotFilter.ALL.withLocations(true, false).withLeaves(true, false)))
          .containsExactly("t3");
      assertThat(snapshots.current(name).name()).isEqualTo("e5");

      // One: t2 goes, t3 moves up to t1; the image loses tag t2 only.
      assertThat(snapshots.delete(name, "t2", Snapshots.DeleteMode.ONE, false))
          .containsExactly("t2");
      assertThat(snapshots.get(name, "t3").parent()).isEqualTo("t1");
      String tags = tags(disk);
      assertThat(tags).contains("t1", "t3", "t4").doesNotContain("t2");

      // Children only (external child: metadata only) keeps t4 itself, current moves to it.
      assertThat(snapshots.delete(name, "t4", Snapshots.DeleteMode.CHILDREN_ONLY, true))
          .containsExactly("e5");
      assertThat(snapshots.current(name).name()).isEqualTo("t4");
      assertThat(names(SnapshotFilter.ALL)).containsExactly("t1", "t3", "t4");

      // Metadata only: the tag stays in the image.
      snapshots.delete(name, "t3", Snapshots.DeleteMode.ONE, true);
      assertThat(tags(disk)).contains("t3");

      // With children: everything under t1 and t1 itself, data included.
      assertThat(snapshots.delete(name, "t1", Snapshots.DeleteMode.WITH_CHILDREN, false))
          .containsExactlyInAnyOrder("t1", "t4");
      assertThat(names(SnapshotFilter.ALL)).isEmpty();
      assertThat(tags(disk)).doesNotContain("t1", "t4");

      // no_metadata: the active image (e5's overlay, still in use) gets it, the tree does not.
      Path active = images.resolve("disk.e5");
      assertThat(domains.xml(name)).contains(active.toString());
      snapshots.create(name, SnapshotRequest.builder().xml("<domainsnapshot><name>quiet</name>"
          + "</domainsnapshot>").noMetadata(true).build());
      assertThat(tags(active)).contains("quiet");
      assertThat(names(SnapshotFilter.ALL)).isEmpty();
      // redefine: metadata back for it, made current; a child redefined under it.
      snapshots.create(name, SnapshotRequest.builder().redefine(true).current(true)
          .xml("<domainsnapshot><name>quiet</name><state>shutoff</state>"
              + "<creationTime>1000</creationTime><disks><disk name='vda' "
              + "snapshot='internal'/></disks></domainsnapshot>").build());
      snapshots.create(name, SnapshotRequest.builder().redefine(true)
          .xml("<domainsnapshot><name>later</name><state>shutoff</state><parent><name>quiet"
              + "</name></parent><creationTime>2000</creationTime></domainsnapshot>").build());
      assertThat(names(SnapshotFilter.ALL)).containsExactly("quiet", "later");
      assertThat(snapshots.current(name).name()).isEqualTo("quiet");
      assertThat(snapshots.get(name, "later").memory()).isEqualTo(Snapshot.Location.NO);

      // The tree survives a kill -9 of the server.
      cryo.killNowAndRestart();
      snapshots = cryo.client().snapshots();
      domains = cryo.client().domains();
      assertThat(names(SnapshotFilter.ALL)).containsExactly("quiet", "later");
      assertThat(snapshots.current(name).name()).isEqualTo("quiet");
      assertThat(snapshots.parent(name, "later").name()).isEqualTo("quiet");
      snapshots.delete(name, "quiet", Snapshots.DeleteMode.WITH_CHILDREN, false);
      assertThat(tags(active)).doesNotContain("quiet");
    } finally {
      domains.undefine(name);
    }
  }

  private static void snap(String domain, String name) {
    Snapshot s = snapshots.create(domain, "<domainsnapshot><name>" + name
        + "</name></domainsnapshot>");
    assertThat(s.state()).isEqualTo(Snapshot.State.SHUTOFF);
  }

  private List<String> names(SnapshotFilter filter) {
    return snapshots.list(domain, filter).stream().map(Snapshot::name).toList();
  }

  private String domain;

  private static String tags(Path disk) throws Exception {
    return SnapshotInternalTest.qemuImgSnapshots(disk);
  }
}
