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
import dev.cryo.client.Snapshots;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * External snapshots with memory on real QEMU, and the merging delete of external snapshots. The
 * memory file is a libvirt-format save image written while the guest is paused, the disks switch
 * to their overlays at that same instant; revert restores the image on fresh overlays (the guest
 * is back at the snapshot instant, same boot); delete commits the overlay into the file the
 * snapshot froze while the guest runs on.
 */
@Timeout(900)
class SnapshotExternalMemoryTest {
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
  void externalMemory_revertRestoresMemoryAndDisk_laterSnapshotsStay() throws Exception {
    String name = "snapmem-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    Path memory = images.resolve("m1.mem");
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    try {
      domains.start(name);
      String boot;
      long before;
      try (Console console = domains.console(name)) {
        boot = console.awaitLine(COUNTER, BOOT).group(2);
        write(console, "MARKER-A");
        console.skipReceived();
        before = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));

        long t0 = System.nanoTime();
        Snapshot m1 = snapshots.create(name, "<domainsnapshot><name>m1</name>"
            + "<memory snapshot='external' file='" + memory + "'/>"
            + "<disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>");
        System.out.printf("external memory snapshot of a 128 MiB guest: %d ms%n",
            (System.nanoTime() - t0) / 1_000_000);
        assertThat(m1.state()).isEqualTo(Snapshot.State.RUNNING);
        assertThat(m1.memory()).isEqualTo(Snapshot.Location.EXTERNAL);
        assertThat(m1.memoryFile()).isEqualTo(memory.toString());
        assertThat(m1.external()).isTrue();
        Path overlay = images.resolve("disk.m1");
        assertThat(m1.disks()).singleElement().satisfies(d -> {
          assertThat(d.location()).isEqualTo(Snapshot.Location.EXTERNAL);
          assertThat(d.file()).isEqualTo(overlay.toString());
        });
        assertThat(overlay).exists();
        assertThat(new String(TestGuest.readRaw(memory, 0, 16), StandardCharsets.US_ASCII))
            .as("libvirt's save image magic").isEqualTo("LibvirtQemudSave");
        assertThat(domains.xml(name)).contains(overlay.toString());
        assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
        assertThat(snapshots.get(name, "m1").xml()).contains("<memory snapshot=\"external\" "
            + "file=\"" + memory + "\"/>");

        // The guest ran on through the snapshot: same boot, the counter goes on.
        console.skipReceived();
        Matcher beat = console.awaitLine(COUNTER, LINE);
        assertThat(beat.group(2)).isEqualTo(boot);
        write(console, "MARKER-B");
        long later = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));
        while (later < before + 6) {
          later = Long.parseLong(console.awaitLine(COUNTER, LINE).group(1));
        }
      }
      // A later snapshot, which the revert must leave alone.
      snapshots.create(name, dev.cryo.client.SnapshotRequest.builder().name("m2")
          .diskOnly(true).build());

      long t0 = System.nanoTime();
      Snapshot reverted = snapshots.revert(name, "m1", Snapshots.RevertTo.AS_SNAPSHOT);
      System.out.printf("revert to it: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
      assertThat(reverted.name()).isEqualTo("m1");
      assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
      assertThat(domains.xml(name)).contains(images.resolve("disk.m1.revert-").toString());
      try (Console console = domains.console(name)) {
        console.skipReceived();
        Matcher next = console.awaitLine(COUNTER, LINE);
        assertThat(next.group(2)).as("same boot after revert").isEqualTo(boot);
        assertThat(Long.parseLong(next.group(1))).as("counter resumes from the snapshot's")
            .isBetween(before + 1, before + 3);
        assertThat(read(console)).isEqualTo("MARKER-A");
      }
      assertThat(snapshots.list(name, SnapshotFilter.ALL)).extracting(Snapshot::name)
          .containsExactly("m1", "m2");
      assertThat(snapshots.current(name).name()).isEqualTo("m1");
      assertThat(images.resolve("disk.m2")).as("the later snapshot's overlay stays").exists();
      assertThat(memory).exists();

      // Branch: the m2 snapshot's overlay is not in the disk's chain any more.
      expectUnchanged(name, images, CryoException.ErrorCode.FAILED_PRECONDITION,
          "not in the disk's current backing chain",
          () -> snapshots.delete(name, "m2", Snapshots.DeleteMode.ONE, false));
      // m1 has a child (m2) and the chain branches at it: refused, with the reason.
      expectUnchanged(name, images, CryoException.ErrorCode.FAILED_PRECONDITION,
          "together with its children",
          () -> snapshots.delete(name, "m1", Snapshots.DeleteMode.WITH_CHILDREN, false));
      // Metadata only forgets m2 and keeps its files.
      snapshots.delete(name, "m2", Snapshots.DeleteMode.ONE, true);
      assertThat(images.resolve("disk.m2")).exists();
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  @Test
  void deleteExternal_mergesOverlays_onlineInnerAndActive_thenOffline() throws Exception {
    String name = "snapmerge-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    try {
      domains.start(name);
      String boot;
      try (Console console = domains.console(name)) {
        boot = console.awaitLine(COUNTER, BOOT).group(2);
        write(console, "MARKER-A");
        diskOnly(name, "d1");
        write(console, "MARKER-B");
        diskOnly(name, "d2");
        write(console, "MARKER-C");
        assertThat(chain(images.resolve("disk.d2"))).hasSize(3);

        // Inner: d1's overlay sits under d2's; it is committed into disk.qcow2 and d2's
        // overlay rebased onto it.
        long t0 = System.nanoTime();
        assertThat(snapshots.delete(name, "d1", Snapshots.DeleteMode.ONE, false))
            .containsExactly("d1");
        System.out.printf("online inner merge: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        assertThat(images.resolve("disk.d1")).doesNotExist();
        assertThat(chain(images.resolve("disk.d2")))
            .containsExactly(images.resolve("disk.d2").toString(), disk.toString());
        assertThat(snapshots.get(name, "d2").parent()).isNull();
        assertThat(snapshots.get(name, "d2").xml()).as("d2 froze what is now disk.qcow2")
            .contains("<source file=\"" + disk + "\"/>").doesNotContain("disk.d1");
        assertThat(read(console)).isEqualTo("MARKER-C");

        // Active: d2's overlay is what the guest writes to; active commit, pivot to base.
        t0 = System.nanoTime();
        snapshots.delete(name, "d2", Snapshots.DeleteMode.ONE, false);
        System.out.printf("online active merge: %d ms%n",
            (System.nanoTime() - t0) / 1_000_000);
        assertThat(images.resolve("disk.d2")).doesNotExist();
        assertThat(domains.xml(name)).contains("<source file=\"" + disk + "\"/>");
        assertThat(chain(disk)).containsExactly(disk.toString());
        assertThat(snapshots.list(name, SnapshotFilter.ALL)).isEmpty();
        assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
        console.skipReceived();
        assertThat(console.awaitLine(COUNTER, LINE).group(2)).as("guest kept running")
            .isEqualTo(boot);
        assertThat(read(console)).isEqualTo("MARKER-C");
        write(console, "MARKER-D");
        assertThat(read(console)).isEqualTo("MARKER-D");
      }

      // Offline: qemu-img commit, the definition follows.
      domains.destroy(name);
      snapshots.create(name, "<domainsnapshot><name>o1</name><disks><disk name='vda' "
          + "snapshot='external'/></disks></domainsnapshot>");
      assertThat(domains.xml(name)).contains(images.resolve("disk.o1").toString());
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-D");
        write(console, "MARKER-E");
      }
      domains.destroy(name);
      snapshots.delete(name, "o1", Snapshots.DeleteMode.ONE, false);
      assertThat(images.resolve("disk.o1")).doesNotExist();
      assertThat(domains.xml(name)).contains("<source file=\"" + disk + "\"/>");
      assertThat(chain(disk)).containsExactly(disk.toString());
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
        assertThat(read(console)).isEqualTo("MARKER-E");
      }
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  private static void diskOnly(String domain, String snapshot) {
    snapshots.create(domain, dev.cryo.client.SnapshotRequest.builder().name(snapshot)
        .diskOnly(true).build());
  }

  /** The files of {@code top}'s backing chain, top first, from {@code qemu-img info}. */
  static List<String> chain(Path top) throws Exception {
    Process p = new ProcessBuilder("qemu-img", "info", "-U", "--backing-chain",
        "--output=json", top.toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    List<String> files = new java.util.ArrayList<>();
    for (var e : com.google.gson.JsonParser.parseString(out).getAsJsonArray()) {
      files.add(e.getAsJsonObject().get("filename").getAsString());
    }
    return files;
  }

  private static void expectUnchanged(String domain, Path images, CryoException.ErrorCode code,
      String text, Runnable call) throws Exception {
    List<String> names = snapshots.list(domain, SnapshotFilter.ALL).stream()
        .map(Snapshot::name).toList();
    String xml = domains.xml(domain);
    List<Path> files;
    try (var s = Files.list(images)) {
      files = s.sorted().toList();
    }
    assertThatThrownBy(call::run).isInstanceOfSatisfying(CryoException.class, e -> {
      assertThat(e.code()).as(e.getMessage()).isEqualTo(code);
      assertThat(e.getMessage()).contains(text);
    });
    assertThat(snapshots.list(domain, SnapshotFilter.ALL)).extracting(Snapshot::name)
        .isEqualTo(names);
    assertThat(domains.xml(domain)).isEqualTo(xml);
    try (var s = Files.list(images)) {
      assertThat(s.sorted().toList()).isEqualTo(files);
    }
  }
}
