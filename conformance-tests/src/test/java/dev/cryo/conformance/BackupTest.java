package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupExtent;
import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Backups;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domains;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Incremental backup on a real guest with a qcow2 data disk: the guest writes known patterns at
 * known offsets; a full streamed backup creates c1; more writes; an incremental since c1 creates
 * c2 and holds exactly the written clusters; full + incremental applied to a local raw file equal
 * the disk; deleting c2 merges into c1; push backups land in qcow2 files and can be cancelled.
 * One guest for the whole class.
 */
@Timeout(600)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BackupTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Checkpoints checkpoints;
  static Backups backups;
  static String name;
  static Path disk;
  static Path local;
  static Console console;

  @BeforeAll
  static void startGuest() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    checkpoints = cryo.client().checkpoints();
    backups = cryo.client().backups();
    name = "backup-" + System.nanoTime();
    disk = TestGuest.createQcow2(temp.resolve("data.qcow2"), "64M");
    // 16 MiB of data the guest does not touch, so a rate-limited push takes a while.
    assertThat(BackupGuest.qemuImg("-h")).isZero();
    Process fill = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 32M 16M",
        disk.toString()).redirectErrorStream(true).start();
    fill.getInputStream().readAllBytes();
    assertThat(fill.waitFor()).isZero();
    local = temp.resolve("restored-vda.raw");
    domains.define(BackupGuest.xml(name, disk, "qcow2", null, null));
    domains.start(name);
    console = domains.console(name);
    console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);
  }

  @AfterAll
  static void stopGuest() throws Exception {
    if (console != null) {
      console.close();
    }
    try {
      domains.destroy(name);
    } catch (CryoException e) {
      // Already off.
    }
    domains.undefine(name);
    cryo.close();
  }

  @Test
  @Order(1)
  void fullThenIncremental_reconstructsDiskAndHoldsOnlyChangedClusters() throws Exception {
    BackupGuest.write(console, "vda", 0, "A".repeat(512));
    BackupGuest.write(console, "vda", (1 << 20) + 7, "B".repeat(300));

    BackupJob full = backups.streamToRawFiles(name, BackupOptions.fullWithCheckpoint("c1"),
        Map.of("vda", local));

    assertThat(full.state()).isEqualTo(BackupJob.State.COMPLETED);
    assertThat(full.checkpoint()).isEqualTo("c1");
    assertThat(Files.size(local)).isEqualTo(64L << 20);
    assertThat(new String(TestGuest.readRaw(local, 0, 512), StandardCharsets.US_ASCII))
        .isEqualTo("A".repeat(512));
    assertThat(BackupGuest.sameContent(local, disk)).as("full backup equals the disk").isTrue();
    assertThat(checkpoints.getWithSize(name, "c1").sizeBytes()).isZero();

    // Four clusters: 5M, 10M, and a write across the boundary at 20M + 64K.
    BackupGuest.write(console, "vda", 5L << 20, "C".repeat(512));
    BackupGuest.write(console, "vda", (10L << 20) + 100, "D".repeat(200));
    BackupGuest.write(console, "vda", (20L << 20) + 65000, "E".repeat(1000));
    Set<Long> expected = new TreeSet<>();
    expected.addAll(BackupGuest.clusters(5L << 20, 512));
    expected.addAll(BackupGuest.clusters((10L << 20) + 100, 200));
    expected.addAll(BackupGuest.clusters((20L << 20) + 65000, 1000));
    assertThat(expected).hasSize(4);

    Checkpoint c1 = checkpoints.getWithSize(name, "c1");
    assertThat(c1.sizeBytes()).as("bytes written since c1, cluster granularity")
        .isEqualTo(4 * BackupGuest.CLUSTER);

    BackupJob inc = backups.streamToRawFiles(name, BackupOptions.incremental("c1", "c2"),
        Map.of("vda", local));
    assertThat(inc.state()).isEqualTo(BackupJob.State.COMPLETED);
    assertThat(inc.since()).isEqualTo("c1");
    assertThat(inc.bytesDone()).as("bytes sent").isEqualTo(4 * BackupGuest.CLUSTER);
    assertThat(BackupGuest.sameContent(local, disk))
        .as("full + incremental equal the disk at c2's instant").isTrue();
    assertThat(checkpoints.get(name, "c2").parent()).isEqualTo("c1");
    assertThat(checkpoints.current(name).name()).isEqualTo("c2");

    // The same incremental once more, recorded: exactly the written clusters, nothing else.
    List<BackupExtent> extents = record(new BackupOptions("c1", null, List.of()));
    assertThat(extents).allMatch(e -> !e.zero());
    assertThat(clustersOf(extents)).isEqualTo(expected);
    assertThat(extents.stream().mapToLong(BackupExtent::length).sum())
        .isEqualTo(4 * BackupGuest.CLUSTER);

    // After c2: one more cluster; the incremental since c2 holds only it.
    BackupGuest.write(console, "vda", 30L << 20, "F".repeat(512));
    List<BackupExtent> sinceC2 = record(new BackupOptions("c2", null, List.of()));
    assertThat(clustersOf(sinceC2)).containsExactly(30L << 20);
    assertThat(BackupGuest.sameContent(local, disk)).as("the new write is not in the local copy")
        .isFalse();

    // Deleting c2 merges its bitmap into c1's: since c1 still covers all five clusters.
    assertThat(checkpoints.delete(name, "c2")).containsExactly("c2");
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name).containsExactly("c1");
    expected.add(30L << 20);
    List<BackupExtent> sinceC1 = record(new BackupOptions("c1", null, List.of()));
    assertThat(clustersOf(sinceC1)).isEqualTo(expected);
    BackupJob applied = backups.streamToRawFiles(name, new BackupOptions("c1", null, List.of()),
        Map.of("vda", local));
    assertThat(applied.bytesDone()).isEqualTo(5 * BackupGuest.CLUSTER);
    assertThat(BackupGuest.sameContent(local, disk)).isTrue();

    assertThatThrownBy(() -> record(new BackupOptions("c2", null, List.of())))
        .as("backup since a deleted checkpoint")
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
  }

  @Test
  @Order(2)
  void push_fullIntoQcow2_equalsDisk() throws Exception {
    Path target = temp.resolve("push-full.qcow2");
    BackupJob started = backups.startPush(name, BackupOptions.full(), Map.of("vda", target));
    assertThat(started.kind()).isEqualTo(BackupJob.Kind.PUSH);
    BackupJob done = awaitEnd();
    assertThat(done.state()).isEqualTo(BackupJob.State.COMPLETED);
    assertThat(done.bytesTotal()).isEqualTo(64L << 20);
    assertThat(BackupGuest.qemuImg("compare", "-U", "-f", "qcow2", "-F", "qcow2",
        target.toString(), disk.toString())).as("push target equals the disk").isZero();

    Path existing = temp.resolve("push-full.qcow2");
    assertThatThrownBy(() -> backups.startPush(name, BackupOptions.full(),
        Map.of("vda", existing)))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.ALREADY_EXISTS);
    assertThat(Files.size(existing)).as("an existing target is left alone").isPositive();
  }

  @Test
  @Order(3)
  void push_cancelled_removesTargetAndNewCheckpoint() throws Exception {
    Path target = temp.resolve("push-cancel.qcow2");
    BackupOptions slow = new BackupOptions(null,
        "<domaincheckpoint><name>doomed</name></domaincheckpoint>", List.of())
        .withMaxBytesPerSecond(1 << 20);
    backups.startPush(name, slow, Map.of("vda", target));
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name).contains("doomed");

    assertThatThrownBy(() -> record(BackupOptions.full()))
        .as("one backup per domain at a time")
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.ABORTED);
    assertThat(backups.job(name).state()).isEqualTo(BackupJob.State.RUNNING);

    BackupJob cancelled = backups.cancel(name);

    assertThat(cancelled.state()).isEqualTo(BackupJob.State.CANCELLED);
    assertThat(target).doesNotExist();
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name).containsExactly("c1");
    assertThat(checkpoints.current(name).name()).isEqualTo("c1");
    assertThat(checkpoints.getWithSize(name, "c1").sizeBytes())
        .as("c1's bitmap survives").isEqualTo(5 * BackupGuest.CLUSTER);
    assertThat(BackupGuest.qemuImgOutput("info", "-U", disk.toString()))
        .doesNotContain("doomed");
  }

  @LocalServer("checks the server's state folder for temporary backup files")
  @Test
  @Order(4)
  void stream_clientGivesUp_serverCleansUpAndDropsNewCheckpoint() throws Exception {
    BackupOptions options = new BackupOptions(null,
        "<domaincheckpoint><name>abandoned</name></domaincheckpoint>", List.of());

    assertThatThrownBy(() -> backups.stream(name, options, e -> {
      throw new java.io.IOException("local disk full");
    })).isInstanceOf(CryoException.class).hasMessageContaining("local disk full");

    BackupJob job = awaitEnd();
    assertThat(job.state()).isEqualTo(BackupJob.State.CANCELLED);
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name).containsExactly("c1");
    try (Stream<Path> files = Files.walk(cryo.stateDir())) {
      assertThat(files.filter(f -> f.getFileName().toString().startsWith("backup-vd")).toList())
          .as("temporary backup files").isEmpty();
    }
    assertThat(BackupGuest.qemuImgOutput("info", "-U", disk.toString()))
        .doesNotContain("abandoned");
  }

  @LocalServer("kills the server mid-backup")
  @Test
  @Order(5)
  void push_serverKilledMidway_nextBackupStillWorks() throws Exception {
    Path target = temp.resolve("push-orphan.qcow2");
    backups.startPush(name, BackupOptions.full().withMaxBytesPerSecond(1 << 20),
        Map.of("vda", target));

    cryo.killAndRestart();
    console.close();
    console = null;
    domains = cryo.client().domains();
    checkpoints = cryo.client().checkpoints();
    backups = cryo.client().backups();

    List<BackupExtent> extents = record(new BackupOptions("c1", null, List.of()));
    assertThat(clustersOf(extents)).hasSize(5);
    assertThat(backups.job(name).state()).isEqualTo(BackupJob.State.COMPLETED);
  }

  private static BackupJob awaitEnd() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    BackupJob job = backups.job(name);
    while (job.state() == BackupJob.State.RUNNING && System.nanoTime() < deadline) {
      Thread.sleep(200); // no event API for backups yet: poll the job
      job = backups.job(name);
    }
    return job;
  }

  private static List<BackupExtent> record(BackupOptions options) {
    List<BackupExtent> extents = new ArrayList<>();
    backups.stream(name, options, extents::add);
    return extents;
  }

  private static Set<Long> clustersOf(List<BackupExtent> extents) {
    Set<Long> out = new TreeSet<>();
    for (BackupExtent e : extents) {
      if (!e.zero()) {
        for (long c = e.offset(); c < e.offset() + e.length(); c += BackupGuest.CLUSTER) {
          out.add(c / BackupGuest.CLUSTER * BackupGuest.CLUSTER);
        }
      }
    }
    return out;
  }
}
