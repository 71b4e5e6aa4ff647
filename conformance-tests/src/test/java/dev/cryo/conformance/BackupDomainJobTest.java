package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Backups;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainJob;
import dev.cryo.client.Domains;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One job model: a push backup of a real guest's disk is the domain's job, so GetDomainJob reports
 * it with QEMU's copy progress like a save or a snapshot, and AbortDomainJob stops it as
 * CancelBackup would (target removed, the checkpoint made with it dropped).
 */
@Timeout(600)
class BackupDomainJobTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Checkpoints checkpoints;
  static Backups backups;
  static String name;
  static Console console;

  @BeforeAll
  static void startGuest() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    checkpoints = cryo.client().checkpoints();
    backups = cryo.client().backups();
    name = "backup-job-" + System.nanoTime();
    Path disk = TestGuest.createQcow2(temp.resolve("data.qcow2"), "64M");
    // 16 MiB of data, so a push limited to 1 MiB/s runs for a while.
    Process fill = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 32M 16M",
        disk.toString()).redirectErrorStream(true).start();
    fill.getInputStream().readAllBytes();
    assertThat(fill.waitFor()).isZero();
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
    cryo.close();
  }

  @Test
  void domainJob_pushBackup_reportsProgress_andAbortCancelsIt() throws Exception {
    assertThat(domains.job(name)).as("no job before the backup").isEmpty();
    Path target = temp.resolve("push.qcow2");
    backups.startPush(name, new BackupOptions(null,
        "<domaincheckpoint><name>with-backup</name></domaincheckpoint>", List.of())
        .withMaxBytesPerSecond(1 << 20), Map.of("vda", target));
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name).contains("with-backup");

    DomainJob running = awaitJob(j -> j.processedBytes() > 0);
    assertThat(running.operation()).isEqualTo("backup");
    assertThat(running.phase()).isEqualTo("copy");
    assertThat(running.abortable()).isTrue();
    assertThat(running.abortRequested()).isFalse();
    assertThat(running.totalBytes()).as("QEMU's total, at most the 64 MiB disk")
        .isGreaterThan(running.processedBytes()).isLessThanOrEqualTo(64L << 20);
    assertThat(backups.job(name).state()).isEqualTo(BackupJob.State.RUNNING);

    long asked = System.nanoTime();
    DomainJob aborted = domains.abortJob(name);
    long abortMillis = (System.nanoTime() - asked) / 1_000_000;
    System.out.println("AbortDomainJob on a backup returned in " + abortMillis + " ms");
    assertThat(aborted.operation()).isEqualTo("backup");
    assertThat(aborted.abortRequested()).isTrue();

    BackupJob end = awaitBackupEnd();
    assertThat(end.state()).isEqualTo(BackupJob.State.CANCELLED);
    awaitNoJob();
    assertThat(target).as("partial target removed").doesNotExist();
    assertThat(checkpoints.list(name)).extracting(Checkpoint::name)
        .as("the checkpoint made with the aborted backup is dropped")
        .doesNotContain("with-backup");

    // The domain is free again: a full push now completes, and its job is gone after it.
    Path second = temp.resolve("push-2.qcow2");
    backups.startPush(name, BackupOptions.full(), Map.of("vda", second));
    assertThat(awaitBackupEnd().state()).isEqualTo(BackupJob.State.COMPLETED);
    awaitNoJob();
    assertThat(second).isNotEmptyFile();
  }

  private static DomainJob awaitJob(java.util.function.Predicate<DomainJob> until)
      throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (System.nanoTime() < deadline) {
      Optional<DomainJob> job = domains.job(name);
      if (job.isPresent() && until.test(job.get())) {
        return job.get();
      }
      Thread.sleep(100); // GetDomainJob has no stream: poll it, as virsh domjobinfo does
    }
    throw new AssertionError("no matching domain job within 120 s; last: " + domains.job(name));
  }

  private static void awaitNoJob() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (domains.job(name).isPresent() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(domains.job(name)).as("the domain's job ends with the backup").isEmpty();
  }

  private static BackupJob awaitBackupEnd() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    BackupJob job = backups.job(name);
    while (job.state() == BackupJob.State.RUNNING && System.nanoTime() < deadline) {
      Thread.sleep(200); // no event API for backups yet: poll the job
      job = backups.job(name);
    }
    return job;
  }
}
