package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Backups;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/backup: how much an incremental backup saves. A qcow2 disk full of random data; the guest
 * changes 5% of its clusters after checkpoint c1; then:
 * <ul>
 *   <li>the incremental stream since c1 (bytes sent, wall time, MB/s received by the SDK),
 *   <li>the full stream (the same, for comparison),
 *   <li>{@code qemu-img convert -U -O raw} of the whole disk, the no-checkpoint way to read it.
 * </ul>
 * Not part of the suite (its name does not end in Test): run {@code bench/backup/run.sh} or
 * {@code mvn -o -B verify -pl conformance-tests -am -Dtest=BackupBench
 * -Dsurefire.failIfNoSpecifiedTests=false -Dcryo.bench.disk.mib=256}. Results are printed and
 * written to {@code conformance-tests/target/bench-backup.txt}.
 */
@Timeout(1800)
class BackupBench {
  @TempDir Path temp;

  @Test
  void incrementalVersusWholeDisk() throws Exception {
    int diskMib = Integer.getInteger("cryo.bench.disk.mib", 256);
    double changed = 0.05;
    long diskBytes = (long) diskMib << 20;
    Path raw = temp.resolve("seed.raw");
    try (OutputStream out = Files.newOutputStream(raw)) {
      Random random = new Random(42);
      byte[] buf = new byte[1 << 20];
      for (int i = 0; i < diskMib; i++) {
        random.nextBytes(buf);
        out.write(buf);
      }
    }
    Path disk = temp.resolve("bench.qcow2");
    assertThat(BackupGuest.qemuImg("convert", "-f", "raw", "-O", "qcow2", raw.toString(),
        disk.toString())).isZero();
    Files.delete(raw);

    try (CryoTarget cryo = CryoTarget.start(temp)) {
      String name = "bench-" + System.nanoTime();
      Backups backups = cryo.client().backups();
      cryo.client().domains().define(BackupGuest.xml(name, disk, "qcow2", null, null));
      cryo.client().domains().start(name);
      try (Console console = cryo.client().domains().console(name)) {
        console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);
        cryo.client().checkpoints().create(name,
            "<domaincheckpoint><name>c1</name></domaincheckpoint>");
        long clusters = diskBytes / BackupGuest.CLUSTER;
        long toChange = Math.round(clusters * changed);
        long stride = clusters / toChange;
        for (long i = 0; i < toChange; i++) {
          BackupGuest.write(console, "vda", i * stride * BackupGuest.CLUSTER, "bench" + i);
        }

        // The first stream pays for class loading and JIT on both sides: warm up, then measure.
        timeStream(backups, name, new BackupOptions("c1", null, List.of()));
        Result inc = timeStream(backups, name, new BackupOptions("c1", null, List.of()));
        Result full = timeStream(backups, name, BackupOptions.full());
        Path convertOut = temp.resolve("convert.raw");
        long t0 = System.nanoTime();
        assertThat(BackupGuest.qemuImg("convert", "-U", "-f", "qcow2", "-O", "raw",
            disk.toString(), convertOut.toString())).isZero();
        double convertSeconds = (System.nanoTime() - t0) / 1e9;
        Files.delete(convertOut);

        String report = String.join("\n",
            "bench/backup: " + diskMib + " MiB qcow2 of random data, "
                + toChange + " of " + clusters + " 64 KiB clusters changed ("
                + String.format("%.1f%%", 100.0 * toChange / clusters) + ")",
            String.format("incremental stream: %d bytes sent (%.2f%% of disk) in %.2f s, "
                + "%.1f MB/s", inc.bytes, 100.0 * inc.bytes / diskBytes, inc.seconds,
                inc.bytes / 1e6 / inc.seconds),
            String.format("full stream:        %d bytes sent in %.2f s, %.1f MB/s",
                full.bytes, full.seconds, full.bytes / 1e6 / full.seconds),
            String.format("qemu-img convert of the whole disk: %.2f s, %.1f MB/s",
                convertSeconds, diskBytes / 1e6 / convertSeconds),
            String.format("incremental takes %.1f%% of the time of a whole-disk convert",
                100.0 * inc.seconds / convertSeconds),
            "");
        System.out.println(report);
        Files.writeString(Path.of("target", "bench-backup.txt"), report);
        assertThat(inc.bytes).isEqualTo(toChange * BackupGuest.CLUSTER);
      } finally {
        try {
          cryo.client().domains().destroy(name);
        } catch (CryoException e) {
          // Already off.
        }
      }
    }
  }

  private record Result(long bytes, double seconds) {}

  private static Result timeStream(Backups backups, String name, BackupOptions options) {
    AtomicLong bytes = new AtomicLong();
    long t0 = System.nanoTime();
    BackupJob job = backups.stream(name, options, e -> {
      if (!e.zero()) {
        bytes.addAndGet(e.data().length);
      }
    });
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertThat(job.state()).isEqualTo(BackupJob.State.COMPLETED);
    return new Result(bytes.get(), seconds);
  }
}
