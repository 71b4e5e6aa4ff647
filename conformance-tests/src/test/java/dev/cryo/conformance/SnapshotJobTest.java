package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupOptions;
import dev.cryo.client.Cancellation;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.DomainJob;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import dev.cryo.client.SnapshotRequest;
import dev.cryo.client.Snapshots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Progress and abort of long snapshot operations, the libvirt way (virDomainGetJobStats /
 * virDomainAbortJob as GetDomainJob / AbortDomainJob), and one job per domain at a time.
 */
@Timeout(900)
class SnapshotJobTest {
  private static final Duration PROGRESS_WAIT = Duration.ofSeconds(60);

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
  void externalMemoryCreate_showsProgress_abortAndClientCancel_leaveNothing() throws Exception {
    String name = "snapjob-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    domains.define(TestGuest.xml(name, 256, 224, disk, "qcow2"));
    try {
      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      assertThat(domains.job(name)).as("idle domain").isEmpty();
      List<String> filesBefore = files(images);
      String xmlBefore = domains.xml(name);

      // AbortDomainJob while the memory is being written.
      CompletableFuture<Snapshot> creating = CompletableFuture.supplyAsync(() ->
          snapshots.create(name, memorySnapshot("big", images)));
      DomainJob job = awaitProgress(name);
      assertThat(job.operation()).isEqualTo("snapshot create");
      assertThat(job.phase()).isEqualTo("memory");
      assertThat(job.totalBytes()).isEqualTo(256L << 20);
      assertThat(job.processedBytes()).isPositive().isLessThan(job.totalBytes());
      assertThat(job.abortable()).isTrue();
      System.out.printf("progress seen after %d ms: %d of %d bytes%n",
          job.elapsed().toMillis(), job.processedBytes(), job.totalBytes());
      DomainJob aborted = domains.abortJob(name);
      assertThat(aborted.abortRequested()).isTrue();
      assertThat(creating).failsWithin(PROGRESS_WAIT.toSeconds(), TimeUnit.SECONDS)
          .withThrowableOfType(java.util.concurrent.ExecutionException.class)
          .havingCause().isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).as(e.getMessage()).isEqualTo(ErrorCode.CANCELLED);
            assertThat(e.getMessage()).contains("aborted");
          });
      assertNothingKept(name, images, filesBefore, xmlBefore);
      beat = carriesOn(name, beat);

      // The client cancels its own CreateSnapshot call: the server aborts the job the same way.
      Cancellation cancellation = new Cancellation();
      CompletableFuture<Snapshot> cancelled = CompletableFuture.supplyAsync(() ->
          snapshots.create(name, memorySnapshot("big", images), cancellation));
      awaitProgress(name);
      cancellation.cancel();
      assertThat(cancelled).failsWithin(PROGRESS_WAIT.toSeconds(), TimeUnit.SECONDS)
          .withThrowableOfType(java.util.concurrent.ExecutionException.class)
          .havingCause().isInstanceOfSatisfying(CryoException.class,
              e -> assertThat(e.code()).isEqualTo(ErrorCode.CANCELLED));
      awaitIdle(name);
      assertNothingKept(name, images, filesBefore, xmlBefore);
      beat = carriesOn(name, beat);

      // Not aborted, the same snapshot completes, and the job is gone afterwards.
      long t0 = System.nanoTime();
      Snapshot big = snapshots.create(name, memorySnapshot("big", images));
      System.out.printf("external memory snapshot of a 256 MiB guest (224 MiB filled): %d ms%n",
          (System.nanoTime() - t0) / 1_000_000);
      assertThat(big.memory()).isEqualTo(Snapshot.Location.EXTERNAL);
      assertThat(domains.job(name)).isEmpty();
      carriesOn(name, beat);
      assertThatThrownBy(() -> domains.abortJob(name)).isInstanceOfSatisfying(
          CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
            assertThat(e.getMessage()).contains("no job");
          });
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  @Test
  void secondJobOnBusyDomain_isAborted_otherDomainsAreNot() throws Exception {
    String name = "snapbusy-" + System.nanoTime();
    String other = "snapfree-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve(name));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    // 16 MiB of data, so a push backup limited to 1 MiB/s holds the domain for ~16 s.
    Process fill = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 16M",
        disk.toString()).redirectErrorStream(true).start();
    fill.getInputStream().readAllBytes();
    assertThat(fill.waitFor()).isZero();
    Path otherDisk = TestGuest.createQcow2(images.resolve("other.qcow2"), "16M");
    domains.define(TestGuest.xml(name, 64, 0, disk, "qcow2"));
    domains.define(TestGuest.xml(other, 64, 0, otherDisk, "qcow2"));
    try {
      domains.start(name);
      Path target = images.resolve("backup.qcow2");
      cryo.client().backups().startPush(name, BackupOptions.full()
          .withMaxBytesPerSecond(1 << 20), Map.of("vda", target));
      DomainJob job = awaitJob(name);
      assertThat(job.operation()).isEqualTo("backup");
      assertThat(job.abortable()).isTrue();

      long t0 = System.nanoTime();
      assertThatThrownBy(() -> snapshots.create(name, SnapshotRequest.builder().name("s")
          .diskOnly(true).build())).isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.ABORTED);
            assertThat(e.getMessage()).contains("busy with backup");
          });
      long waited = (System.nanoTime() - t0) / 1_000_000;
      assertThat(waited).as("waited for the job about 5 s first").isBetween(4_500L, 15_000L);
      assertThat(snapshots.list(name, SnapshotFilter.ALL)).isEmpty();
      assertThat(images.resolve("disk.s")).doesNotExist();
      // Another domain is not blocked.
      assertThat(snapshots.create(other, "<domainsnapshot><name>o</name></domainsnapshot>")
          .name()).isEqualTo("o");

      // domjobabort stops the backup too, as libvirt's does.
      domains.abortJob(name);
      awaitIdle(name);
      assertThat(cryo.client().backups().job(name).state())
          .isEqualTo(dev.cryo.client.BackupJob.State.CANCELLED);
      assertThat(target).doesNotExist();
      assertThat(snapshots.create(name, SnapshotRequest.builder().name("s").diskOnly(true)
          .build()).name()).as("the domain is free again").isEqualTo("s");
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
      domains.undefine(other);
    }
  }

  private static SnapshotRequest memorySnapshot(String name, Path images) {
    return SnapshotRequest.builder().name(name)
        .memory(Snapshot.Location.EXTERNAL, images.resolve(name + ".mem").toString())
        .disk("vda", Snapshot.Location.EXTERNAL, null).build();
  }

  /** Polls GetDomainJob (the way a libvirt client polls domjobinfo) until bytes move. */
  private static DomainJob awaitProgress(String name) {
    long deadline = System.nanoTime() + PROGRESS_WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      Optional<DomainJob> job = domains.job(name);
      if (job.isPresent() && "memory".equals(job.get().phase())
          && job.get().processedBytes() > 0) {
        return job.get();
      }
      Thread.onSpinWait();
    }
    throw new AssertionError("GetDomainJob never showed memory progress for " + name);
  }

  private static DomainJob awaitJob(String name) {
    long deadline = System.nanoTime() + PROGRESS_WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      Optional<DomainJob> job = domains.job(name);
      if (job.isPresent()) {
        return job.get();
      }
      Thread.onSpinWait();
    }
    throw new AssertionError("GetDomainJob never showed a job for " + name);
  }

  private static void awaitIdle(String name) {
    long deadline = System.nanoTime() + PROGRESS_WAIT.toNanos();
    while (domains.job(name).isPresent()) {
      assertThat(System.nanoTime()).as("job of " + name + " ended").isLessThan(deadline);
      Thread.onSpinWait();
    }
  }

  /**
   * The guest goes on in the same boot with the same memory: the heartbeat moves past {@code
   * before} (lines replayed from the console history are skipped) and the checksum of its filled
   * memory is unchanged.
   */
  private static GuestProbe.Beat carriesOn(String name, GuestProbe.Beat before) {
    try (dev.cryo.client.Console c = domains.console(name)) {
      java.util.regex.Matcher m;
      long n;
      do {
        m = c.awaitLine(GuestProbe.COUNTER, GuestProbe.LINE);
        n = Long.parseLong(m.group(1));
      } while (n <= before.counter() || !m.group(2).equals(before.boot()));
      assertThat(n).as("heartbeat goes on from %d", before.counter())
          .isBetween(before.counter() + 1, before.counter() + 60);
      c.sendLine("checksum");
      java.util.regex.Matcher sum = c.awaitLine(GuestProbe.CHECKSUM, GuestProbe.LINE);
      assertThat(sum.group(1)).as("guest memory checksum").isEqualTo(before.checksum());
      assertThat(sum.group(2)).as("same boot").isEqualTo(before.boot());
      return new GuestProbe.Beat(n, before.boot(), before.checksum());
    }
  }

  private static void assertNothingKept(String name, Path images, List<String> filesBefore,
      String xmlBefore) throws Exception {
    assertThat(snapshots.list(name, SnapshotFilter.ALL)).as("nothing listed").isEmpty();
    assertThat(files(images)).as("no file left").isEqualTo(filesBefore);
    assertThat(domains.xml(name)).as("definition unchanged").isEqualTo(xmlBefore);
    assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
    assertThat(domains.job(name)).isEmpty();
  }

  private static List<String> files(Path dir) throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
