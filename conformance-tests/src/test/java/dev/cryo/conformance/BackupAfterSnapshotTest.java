package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.Domains;
import dev.cryo.client.SnapshotRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backup taken after an external snapshot of the running guest holds what the guest wrote
 * since, into the overlay: it copies the node the guest writes to now, not the base QEMU
 * started with. A backup that would make or use a checkpoint there is refused, as the
 * checkpoints' bitmaps stay on the base and miss those writes.
 */
@Timeout(600)
class BackupAfterSnapshotTest {
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

  @Test
  void fullBackup_afterExternalSnapshot_holdsTheOverlaysWrites() throws Exception {
    String name = "backup-overlay";
    Domains domains = cryo.client().domains();
    Path disk = TestGuest.createQcow2(cryo.imagesDir().resolve("overlay-base.qcow2"), "16M");
    try {
      domains.define(BackupGuest.xml(name, disk, "qcow2", null, null));
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);
        BackupGuest.write(console, "vda", 0, "BEFORE-SNAPSHOT");
        cryo.client().snapshots().create(name, SnapshotRequest.builder().name("s1")
            .diskOnly(true).build());
        BackupGuest.write(console, "vda", 0, "AFTER--SNAPSHOT");
      }

      assertThatThrownBy(() -> cryo.client().backups().startPush(name,
          BackupOptions.fullWithCheckpoint("c1"), Map.of("vda", temp.resolve("refused.qcow2"))))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
            assertThat(e.getMessage()).contains("external snapshot's overlay");
          });
      assertThat(temp.resolve("refused.qcow2")).doesNotExist();

      Path target = temp.resolve("after-snapshot.qcow2");
      cryo.client().backups().startPush(name, BackupOptions.full(), Map.of("vda", target));
      BackupJob done = awaitEnd(name);
      assertThat(done.state()).isEqualTo(BackupJob.State.COMPLETED);
      Path raw = temp.resolve("after-snapshot.raw");
      assertThat(BackupGuest.qemuImg("convert", "-U", "-f", "qcow2", "-O", "raw",
          target.toString(), raw.toString())).isZero();
      byte[] head = new byte[15];
      System.arraycopy(Files.readAllBytes(raw), 0, head, 0, head.length);
      assertThat(new String(head, StandardCharsets.US_ASCII))
          .as("the backup holds the guest's latest write, which went to the overlay")
          .isEqualTo("AFTER--SNAPSHOT");
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  private static BackupJob awaitEnd(String name) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    BackupJob job = cryo.client().backups().job(name);
    while (job.state() == BackupJob.State.RUNNING && System.nanoTime() < deadline) {
      Thread.sleep(200); // no event API for backups yet: poll the job, as BackupTest does
      job = cryo.client().backups().job(name);
    }
    return job;
  }
}
