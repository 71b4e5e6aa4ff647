package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.Snapshots;
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
 * Internal snapshots on real QEMU with the test guest and a qcow2 disk: online (memory and disk,
 * QMP snapshot-save / snapshot-load) and offline (qemu-img snapshot). The guest writes a marker,
 * the snapshot is taken, the marker changes, the revert brings back the old marker and, with
 * memory, the heartbeat resumes from the snapshot's counter with the same boot id.
 */
@Timeout(600)
class SnapshotInternalTest {
  static final Pattern COUNTER = DomainLifecycleTest.COUNTER;
  static final Duration BOOT = DomainLifecycleTest.BOOT;
  static final Duration LINE = Duration.ofSeconds(60);

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
  void internal_revertRestoresMemoryAndDisk_thenOfflineSnapshotRevertsDisk() throws Exception {
    String name = "snapint-" + System.nanoTime();
    Path disk = TestGuest.createQcow2(temp.resolve(name + ".qcow2"), "64M");
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    try {
      domains.start(name);
      String boot;
      long atSnapshot;
      try (Console console = domains.console(name)) {
        boot = console.awaitLine(COUNTER, BOOT).group(2);
        write(console, "MARKER-A");
        console.skipReceived();
        atSnapshot = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));

        Snapshot s1 = snapshots.create(name, "<domainsnapshot><name>s1</name>"
            + "<description>before B</description></domainsnapshot>");
        assertThat(s1.state()).isEqualTo(Snapshot.State.RUNNING);
        assertThat(s1.memory()).isEqualTo(Snapshot.Location.INTERNAL);
        assertThat(s1.disks()).extracting(Snapshot.Disk::location)
            .containsExactly(Snapshot.Location.INTERNAL);
        assertThat(s1.parent()).isNull();
        assertThat(snapshots.current(name).name()).isEqualTo("s1");
        assertThat(snapshots.get(name, "s1").xml()).contains("<name>s1</name>")
            .contains("<memory snapshot=\"internal\"/>").contains("<domain type=\"kvm\">");

        write(console, "MARKER-B");
        long later = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));
        while (later < atSnapshot + 4) {
          later = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));
        }

        Snapshot reverted = snapshots.revert(name, "s1", Snapshots.RevertTo.AS_SNAPSHOT);
        assertThat(reverted.name()).isEqualTo("s1");
        assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
        console.skipReceived();
        Matcher next = console.awaitLine(COUNTER, LINE);
        assertThat(next.group(2)).as("same boot after revert").isEqualTo(boot);
        assertThat(Long.parseLong(next.group(1))).as("counter resumes from the snapshot")
            .isBetween(atSnapshot + 1, atSnapshot + 2);
        assertThat(read(console)).isEqualTo("MARKER-A");

        // Again, ending paused: no heartbeat until resumed, then the snapshot's counter.
        write(console, "MARKER-D");
        snapshots.revert(name, "s1", Snapshots.RevertTo.PAUSED);
        assertThat(domains.get(name).state()).isEqualTo(DomainState.PAUSED);
        console.skipReceived();
        domains.resume(name);
        Matcher resumed = console.awaitLine(COUNTER, LINE);
        assertThat(resumed.group(2)).isEqualTo(boot);
        assertThat(Long.parseLong(resumed.group(1))).isBetween(atSnapshot + 1, atSnapshot + 2);
        assertThat(read(console)).isEqualTo("MARKER-A");
      }

      // Offline: snapshot the shut-off domain, change the marker while running, revert.
      domains.destroy(name);
      Snapshot off = snapshots.create(name, "<domainsnapshot><name>off1</name>"
          + "</domainsnapshot>");
      assertThat(off.state()).isEqualTo(Snapshot.State.SHUTOFF);
      assertThat(off.memory()).isEqualTo(Snapshot.Location.NO);
      assertThat(off.parent()).isEqualTo("s1");
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-A");
        write(console, "MARKER-C");
      }
      domains.destroy(name);
      snapshots.revert(name, "off1", Snapshots.RevertTo.RUNNING);
      assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-A");
      }
      assertThat(snapshots.list(name, SnapshotFilter.ALL)).extracting(Snapshot::name)
          .containsExactly("s1", "off1");
      assertThat(snapshots.list(name, SnapshotFilter.ALL.withStates(true, false, false)))
          .extracting(Snapshot::name).containsExactly("off1");

      // Delete the online one while running (snapshot-delete job), then the offline one.
      assertThat(snapshots.delete(name, "s1", Snapshots.DeleteMode.ONE, false))
          .containsExactly("s1");
      assertThat(snapshots.get(name, "off1").parent()).as("re-parented").isNull();
      domains.destroy(name);
      snapshots.delete(name, "off1", Snapshots.DeleteMode.ONE, false);
      assertThat(snapshots.list(name, SnapshotFilter.ALL)).isEmpty();
      assertThat(qemuImgSnapshots(disk)).doesNotContain("s1", "off1");
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  static void write(Console console, String marker) {
    console.sendLine("write vda 4096 " + marker);
    console.awaitLine(Pattern.compile("^(WROTE vda 4096|ERR)"), LINE);
  }

  static String read(Console console) {
    console.sendLine("read vda 4096 8");
    return console.awaitLine(Pattern.compile("^READ vda 4096 (\\S+)"), LINE).group(1);
  }

  static String qemuImgSnapshots(Path disk) throws Exception {
    Process p = new ProcessBuilder("qemu-img", "snapshot", "-U", "-l", disk.toString())
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }
}
