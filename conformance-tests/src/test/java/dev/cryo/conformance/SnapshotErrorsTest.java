package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.SnapshotRequest;
import dev.cryo.client.Snapshots;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input gets its precise code and changes nothing (same snapshots, same domain definition,
 * same files); and the metadata survives a server restart and a {@code kill -9} in the middle of
 * a create, with no half-created snapshot listed afterwards.
 */
@Timeout(600)
class SnapshotErrorsTest {
  @TempDir static Path temp;
  static CryoTarget cryo;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  static Domains domains() {
    return cryo.client().domains();
  }

  static Snapshots snapshots() {
    return cryo.client().snapshots();
  }

  @Test
  void create_badInputOnShutOffDomain_failsPreciselyAndChangesNothing() throws Exception {
    String name = "snaperr-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "16M");
    domains().define(TestGuest.xml(name, 64, 0, disk, "qcow2"));
    try {
      snapshots().create(name, "<domainsnapshot><name>base</name></domainsnapshot>");
      Unchanged before = Unchanged.of(name, images);

      expect(before, ErrorCode.INVALID_ARGUMENT, "no memory to save", () -> create(name,
          "<name>m</name><memory snapshot='internal'/>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "no memory to save", () -> create(name,
          "<name>m</name><memory snapshot='external' file='" + images.resolve("mem") + "'/>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "nothing to snapshot", () -> create(name,
          "<name>n</name><disks><disk name='vda' snapshot='no'/></disks>"));
      expect(before, ErrorCode.ALREADY_EXISTS, "base", () -> create(name, "<name>base</name>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "'/'", () -> create(name, "<name>a/b</name>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "dot", () -> create(name, "<name>..</name>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "300 characters", () -> create(name,
          "<name>" + "x".repeat(300) + "</name>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "U+0000", () -> snapshots().create(name,
          SnapshotRequest.builder().name("a\0b").build()));
      expect(before, ErrorCode.INVALID_ARGUMENT, "ghost", () -> snapshots().create(name,
          SnapshotRequest.builder().redefine(true).xml("<domainsnapshot><name>r</name>"
              + "<state>shutoff</state><parent><name>ghost</name></parent>"
              + "<creationTime>1</creationTime></domainsnapshot>").build()));
      expect(before, ErrorCode.PERMISSION_DENIED, "allowed folders", () -> create(name,
          "<name>x</name><disks><disk name='vda' snapshot='external'><source file='"
              + temp.resolveSibling("elsewhere.qcow2") + "'/></disk></disks>"));
      expect(before, ErrorCode.PERMISSION_DENIED, "..", () -> create(name,
          "<name>x</name><disks><disk name='vda' snapshot='external'><source file='"
              + images + "/../" + images.getFileName() + "/o.qcow2'/></disk></disks>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "vdz", () -> create(name,
          "<name>x</name><disks><disk name='vdz' snapshot='internal'/></disks>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "DTD", () -> snapshots().create(name,
          "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
              + "<domainsnapshot><name>&x;</name></domainsnapshot>"));
      expect(before, ErrorCode.NOT_FOUND, "nope", () -> snapshots().revert(name, "nope",
          Snapshots.RevertTo.AS_SNAPSHOT));
      expect(before, ErrorCode.NOT_FOUND, "nope", () -> snapshots().delete(name, "nope",
          Snapshots.DeleteMode.ONE, false));
      expect(before, ErrorCode.NOT_FOUND, "no domain", () -> snapshots().list("no-such-domain",
          SnapshotFilter.ALL));
    } finally {
      domains().undefine(name);
    }
  }

  @LocalServer("kills the server mid-create")
  @Test
  void create_badCombinationsOnRunningDomain_thenKill9MidCreate_leavesNoHalfSnapshot()
      throws Exception {
    String name = "snapkill-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    domains().define(TestGuest.xml(name, 128, 64, disk, "qcow2"));
    try {
      snapshots().create(name, "<domainsnapshot><name>base</name></domainsnapshot>");
      domains().start(name);
      String boot;
      try (Console console = domains().console(name)) {
        // The fill comes before the first heartbeat; it makes the memory worth saving slowly.
        console.awaitLine(java.util.regex.Pattern.compile("CRYO FILLED"),
            DomainLifecycleTest.BOOT);
        boot = console.awaitLine(DomainLifecycleTest.COUNTER, DomainLifecycleTest.BOOT)
            .group(2);
      }
      Unchanged before = Unchanged.of(name, images);
      expect(before, ErrorCode.INVALID_ARGUMENT, "disk-only", () -> snapshots().create(name,
          SnapshotRequest.builder().name("x").memory(Snapshot.Location.INTERNAL, null)
              .diskOnly(true).build()));
      expect(before, ErrorCode.INVALID_ARGUMENT, "nothing to snapshot", () -> create(name,
          "<name>x</name><memory snapshot='no'/><disks><disk name='vda' snapshot='no'/></disks>"));
      expect(before, ErrorCode.FAILED_PRECONDITION, "unsupported combination", () -> create(
          name, "<name>x</name><disks><disk name='vda' snapshot='external'/></disks>"));
      expect(before, ErrorCode.FAILED_PRECONDITION, "unsupported combination", () -> create(
          name, "<name>x</name><memory snapshot='internal'/><disks><disk name='vda' "
              + "snapshot='external'/></disks>"));
      expect(before, ErrorCode.FAILED_PRECONDITION, "unsupported combination", () -> create(
          name, "<name>x</name><memory snapshot='no'/><disks><disk name='vda' "
              + "snapshot='internal'/></disks>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "require a file", () -> create(
          name, "<name>x</name><memory snapshot='external'/>"));
      expect(before, ErrorCode.PERMISSION_DENIED, "allowed folders", () -> create(
          name, "<name>x</name><memory snapshot='external' file='"
              + temp.resolveSibling("elsewhere.mem") + "'/>"));
      expect(before, ErrorCode.INVALID_ARGUMENT, "already a disk of the domain", () -> create(
          name, "<name>x</name><memory snapshot='external' file='" + disk + "'/>"));

      // kill -9 the server while QEMU saves an internal snapshot.
      Path meta = cryo.stateDir().resolve("domains/" + name + "/snapshots");
      CompletableFuture<Void> creating;
      try (WatchService watch = FileSystems.getDefault().newWatchService()) {
        meta.register(watch, StandardWatchEventKinds.ENTRY_CREATE);
        Snapshots doomed = snapshots();
        creating = CompletableFuture.runAsync(() -> doomed.create(name,
            "<domainsnapshot><name>half</name></domainsnapshot>"));
        awaitFile(watch, "half.creating");
      }
      cryo.killNowAndRestart();
      assertThat(creating).failsWithin(60, TimeUnit.SECONDS);

      assertThat(snapshots().list(name, SnapshotFilter.ALL)).extracting(Snapshot::name)
          .containsExactly("base");
      assertThat(snapshots().current(name).name()).isEqualTo("base");
      assertThat(meta.resolve("half.creating")).doesNotExist();
      assertThat(meta.resolve("half.xml")).doesNotExist();
      assertThat(SnapshotInternalTest.qemuImgSnapshots(disk)).contains("base")
          .doesNotContain("half");
      try (Console console = domains().console(name)) {
        console.skipReceived();
        assertThat(console.awaitLine(DomainLifecycleTest.COUNTER,
            DomainLifecycleTest.BOOT).group(2)).as("guest survived").isEqualTo(boot);
      }
      // The name is free again, and a snapshot now works.
      assertThat(snapshots().create(name, "<domainsnapshot><name>half</name>"
          + "</domainsnapshot>").parent()).isEqualTo("base");
    } finally {
      DomainLifecycleTest.destroyQuietly(domains(), name);
      domains().undefine(name);
    }
  }

  private static void awaitFile(WatchService watch, String file) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      WatchKey key = watch.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
      if (key == null) {
        break;
      }
      boolean seen = key.pollEvents().stream().anyMatch(e -> e.context().toString()
          .equals(file));
      key.reset();
      if (seen) {
        return;
      }
    }
    throw new AssertionError(file + " never appeared");
  }

  private static Snapshot create(String domain, String inner) {
    return snapshots().create(domain, "<domainsnapshot>" + inner + "</domainsnapshot>");
  }

  private static void expect(Unchanged before, ErrorCode code, String text,
      Supplier<?> call) throws Exception {
    assertThatThrownBy(call::get).isInstanceOfSatisfying(CryoException.class, e -> {
      assertThat(e.code()).as(e.getMessage()).isEqualTo(code);
      assertThat(e.getMessage()).contains(text);
    });
    assertThat(Unchanged.of(before.domain, before.images)).as("state after a " + code)
        .isEqualTo(before);
  }

  /** What a failed call must not change. */
  record Unchanged(String domain, Path images, List<String> names, String current,
      String xml, List<String> files) {
    static Unchanged of(String domain, Path images) throws Exception {
      try (Stream<Path> f = Files.list(images)) {
        Snapshots s = SnapshotErrorsTest.snapshots();
        return new Unchanged(domain, images, s.list(domain, SnapshotFilter.ALL).stream()
            .map(Snapshot::name).toList(), s.current(domain).name(),
            domains().xml(domain), f.map(Path::toString).sorted().toList());
      }
    }
  }
}
