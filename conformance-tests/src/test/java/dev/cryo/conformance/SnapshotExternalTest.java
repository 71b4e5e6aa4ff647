package dev.cryo.conformance;

import static dev.cryo.conformance.SnapshotInternalTest.read;
import static dev.cryo.conformance.SnapshotInternalTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.SnapshotRequest;
import dev.cryo.client.Snapshots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * External disk snapshots on real QEMU: online disk-only (qemu-img create -b, then a QMP
 * transaction of blockdev-snapshot) with the guest running on, revert (fresh overlay over the
 * snapshot's file, domain restarts), offline external (qemu-img create -b), the domain
 * definition following the active overlay, and the offline merging delete (qemu-img commit).
 */
@Timeout(600)
class SnapshotExternalTest {
  static final Pattern COUNTER = DomainLifecycleTest.COUNTER;
  static final Duration BOOT = DomainLifecycleTest.BOOT;

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

  @Test
  void external_diskOnlyOnline_revert_andOffline() throws Exception {
    String name = "snapext-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve("images"));
    Path base = TestGuest.createQcow2(images.resolve("base.qcow2"), "64M");
    domains.define(TestGuest.xml(name, 128, 0, base, "qcow2"));
    try {
      domains.start(name);
      String boot;
      try (Console console = domains.console(name)) {
        boot = console.awaitLine(COUNTER, BOOT).group(2);
        write(console, "MARKER-A");
        Snapshot e1 = snapshots.create(name, SnapshotRequest.builder().name("e1")
            .diskOnly(true).build());
        assertThat(e1.state()).isEqualTo(Snapshot.State.DISK_SNAPSHOT);
        assertThat(e1.memory()).isEqualTo(Snapshot.Location.NO);
        assertThat(e1.external()).isTrue();
        Path overlay = images.resolve("base.e1");
        assertThat(e1.disks()).singleElement().satisfies(d -> {
          assertThat(d.location()).isEqualTo(Snapshot.Location.EXTERNAL);
          assertThat(d.file()).isEqualTo(overlay.toString());
          assertThat(d.format()).isEqualTo("qcow2");
        });
        assertThat(overlay).exists();
        assertThat(domains.xml(name)).as("definition follows the overlay")
            .contains(overlay.toString());
        // The guest never stopped: same boot, and it writes into the overlay now.
        console.skipReceived();
        Matcher beat = console.awaitLine(COUNTER, Duration.ofSeconds(60));
        assertThat(beat.group(2)).isEqualTo(boot);
        write(console, "MARKER-B");
        assertThat(read(console)).isEqualTo("MARKER-B");
      }
      assertThat(TestGuest.readRaw(base, 0, 4)).as("base is still a qcow2")
          .containsExactly('Q', 'F', 'I', 0xfb);

      snapshots.revert(name, "e1", Snapshots.RevertTo.AS_SNAPSHOT);
      assertThat(domains.get(name).state()).as("disk-only revert restarts the domain")
          .isEqualTo(DomainState.RUNNING);
      String revertedXml = domains.xml(name);
      assertThat(revertedXml).contains(images.resolve("base.e1.revert-").toString());
      assertThat(images.resolve("base.e1")).as("the later overlay stays").exists();
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-A");
        write(console, "MARKER-C");
      }

      // Offline external: qemu-img create -b over the active file.
      domains.destroy(name);
      Snapshot e2 = snapshots.create(name, "<domainsnapshot><name>e2</name><disks>"
          + "<disk name='vda' snapshot='external'><source file='" + images.resolve("e2.qcow2")
          + "'/></disk></disks></domainsnapshot>");
      assertThat(e2.state()).isEqualTo(Snapshot.State.SHUTOFF);
      assertThat(e2.parent()).isEqualTo("e1");
      assertThat(domains.xml(name)).contains(images.resolve("e2.qcow2").toString());
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-C");
        write(console, "MARKER-E");
      }
      assertThat(snapshots.list(name, SnapshotFilter.ALL.withLocations(false, true)))
          .extracting(Snapshot::name).containsExactly("e1", "e2");

      // Deleting e2 merges its overlay into the file it froze (qemu-img commit, the domain is
      // off); metadata only would keep the files.
      domains.destroy(name);
      snapshots.delete(name, "e2", Snapshots.DeleteMode.ONE, false);
      assertThat(images.resolve("e2.qcow2")).doesNotExist();
      assertThat(domains.xml(name)).doesNotContain("e2.qcow2")
          .contains(images.resolve("base.e1.revert-").toString());
      assertThat(snapshots.list(name, SnapshotFilter.ALL)).extracting(Snapshot::name)
          .containsExactly("e1");
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).as("data written after the snapshot survives the merge")
            .isEqualTo("MARKER-E");
      }
      // e1 is on another branch now (the revert put a fresh overlay over base.qcow2).
      assertThatThrownBy(() -> snapshots.delete(name, "e1", Snapshots.DeleteMode.ONE, false))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
            assertThat(e.getMessage()).contains("metadata_only");
          });
      snapshots.delete(name, "e1", Snapshots.DeleteMode.ONE, true);
      assertThat(images.resolve("base.e1")).exists();
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }
}
