package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.Snapshots;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server is killed -9 in the middle of an external snapshot with memory, at the instants
 * where the guest is paused and the snapshot half taken (the server's fail points): the next
 * server, as it starts, undoes the snapshot or finishes it, and the guest runs on from where it
 * was, same boot. Each test starts its own server, since it kills it.
 */
@Timeout(900)
@LocalServer("arms fail points in the server and kills it")
class SnapshotRecoveryTest {
  static final Duration LINE = Duration.ofSeconds(60);

  @TempDir Path temp;

  /** What a test saw of its guest before the kill. */
  private record Before(
      String name, Path images, Path disk, Path memory, String boot, long counter) {}

  @Test
  void killedBetweenMemorySaveAndDiskSwitch_snapshotUndone_guestRunsOn() throws Exception {
    try (CryoTarget cryo =
        CryoTarget.start(temp, List.of("--fail-point", "snapshot-memory-saved"))) {
      Before before = killDuringSnapshot(cryo);
      Domains domains = cryo.client().domains();
      Snapshots snapshots = cryo.client().snapshots();
      try {
        assertThat(domains.get(before.name()).state())
            .as("running again, without a call")
            .isEqualTo(DomainState.RUNNING);
        awaitCounterAfter(cryo, before);
        assertThat(snapshots.list(before.name(), SnapshotFilter.ALL)).isEmpty();
        assertThat(before.images().resolve("disk.m1")).as("overlay removed").doesNotExist();
        assertThat(before.memory()).as("memory file removed").doesNotExist();
        assertThat(domains.xml(before.name()))
            .contains(before.disk().toString())
            .doesNotContain("disk.m1");
        // Nothing is left in QEMU or on disk that stands in the way of taking it again.
        Snapshot again = snapshots.create(before.name(), snapshotXml(before.memory()));
        assertThat(again.name()).isEqualTo("m1");
        assertThat(domains.xml(before.name())).contains("disk.m1");
        awaitCounterAfter(cryo, before);
      } finally {
        DomainLifecycleTest.destroyQuietly(domains, before.name());
        domains.undefine(before.name());
      }
    }
  }

  @Test
  void killedAfterDiskSwitch_snapshotKept_guestRunsOn_andRevertsToIt() throws Exception {
    try (CryoTarget cryo =
        CryoTarget.start(temp, List.of("--fail-point", "snapshot-disks-switched"))) {
      Before before = killDuringSnapshot(cryo);
      Domains domains = cryo.client().domains();
      Snapshots snapshots = cryo.client().snapshots();
      try {
        assertThat(domains.get(before.name()).state())
            .as("running again, without a call")
            .isEqualTo(DomainState.RUNNING);
        long after = awaitCounterAfter(cryo, before);
        assertThat(snapshots.list(before.name(), SnapshotFilter.ALL))
            .extracting(Snapshot::name)
            .containsExactly("m1");
        assertThat(snapshots.current(before.name()).name()).isEqualTo("m1");
        assertThat(domains.xml(before.name()))
            .contains(before.images().resolve("disk.m1").toString());
        assertThat(new String(TestGuest.readRaw(before.memory(), 0, 16), StandardCharsets.US_ASCII))
            .isEqualTo("LibvirtQemudSave");

        // The memory file is whole: the guest goes back to the snapshot instant.
        snapshots.revert(before.name(), "m1", Snapshots.RevertTo.AS_SNAPSHOT);
        try (Console console = domains.console(before.name())) {
          console.skipReceived();
          Matcher beat = console.awaitLine(DomainLifecycleTest.COUNTER, LINE);
          assertThat(beat.group(2)).as("same boot after revert").isEqualTo(before.boot());
          assertThat(Long.parseLong(beat.group(1)))
              .as("back at the snapshot's counter")
              .isBetween(before.counter(), after);
        }
      } finally {
        DomainLifecycleTest.destroyQuietly(domains, before.name());
        domains.undefine(before.name());
      }
    }
  }

  /**
   * Starts a guest with a qcow2 disk, asks for external snapshot {@code m1} with memory, waits
   * for the server to stop at its fail point (the guest is paused there), kills it -9 and starts
   * a new server on the same state.
   */
  private Before killDuringSnapshot(CryoTarget cryo) throws Exception {
    String name = "recover-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    Path memory = images.resolve("m1.mem");
    Domains domains = cryo.client().domains();
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    domains.start(name);
    String boot;
    long counter;
    try (Console console = domains.console(name)) {
      boot = console.awaitLine(DomainLifecycleTest.COUNTER, DomainLifecycleTest.BOOT).group(2);
      console.skipReceived();
      counter = Long.parseLong(console.awaitLine(DomainLifecycleTest.COUNTER, LINE).group(1));
    }
    var create = cryo.client().snapshots().async().create(name, snapshotXml(memory));
    cryo.failPoint().get(5, TimeUnit.MINUTES);
    assertThat(domains.get(name).state())
        .as("the snapshot paused the guest")
        .isEqualTo(DomainState.PAUSED);
    cryo.killNowAndRestart();
    assertThat(create.result()).failsWithin(Duration.ofSeconds(30));
    return new Before(name, images, disk, memory, boot, counter);
  }

  private static String snapshotXml(Path memory) {
    return "<domainsnapshot><name>m1</name><memory snapshot='external' file='"
        + memory
        + "'/><disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>";
  }

  /** Waits for a heartbeat of the same boot with a counter past the one seen before the kill. */
  private static long awaitCounterAfter(CryoTarget cryo, Before before) {
    try (Console console = cryo.client().domains().console(before.name())) {
      console.skipReceived();
      while (true) {
        Matcher beat = console.awaitLine(DomainLifecycleTest.COUNTER, LINE);
        assertThat(beat.group(2))
            .as("same boot: the guest was not restarted")
            .isEqualTo(before.boot());
        long n = Long.parseLong(beat.group(1));
        if (n > before.counter()) {
          return n;
        }
      }
    }
  }
}
