package dev.cryo.server.snapshot;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.qemu.QemuImg;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What every snapshot step shares: the ids of the QEMU jobs it starts (one prefix, so that
 * {@link SnapshotRecovery} knows a killed server's jobs), how long QEMU gets to end them, and
 * how a failure becomes a Cryo error.
 */
final class SnapshotJobs {
  /** How long a QEMU snapshot, commit or migration job gets to end. */
  static final Duration JOB_TIMEOUT = Duration.ofMinutes(15);

  /** What every QEMU job id a snapshot starts begins with. */
  static final String ID_PREFIX = "cryo-snapshot-";

  private static final AtomicLong IDS = new AtomicLong();

  private SnapshotJobs() {}

  /** A new QEMU job id, e.g. {@code cryo-snapshot-save-7}. */
  static String jobId(String what) {
    return ID_PREFIX + what + "-" + IDS.incrementAndGet();
  }

  /**
   * What a step that failed with {@code e} throws: a Cryo error as it is, a qemu-img failure
   * FAILED_PRECONDITION, anything else INTERNAL; both prefixed with {@code what}.
   */
  static RuntimeException failure(String what, Exception e) {
    if (e instanceof CryoException ce) {
      return ce;
    }
    if (e instanceof QemuImg.QemuImgException) {
      return new FailedPreconditionException(what + ": " + e.getMessage(), e);
    }
    return new InternalException(what + ": " + e.getMessage(), e);
  }

  /** Removes the files a failed step made; what cannot be removed is suppressed into {@code e}. */
  static void deleteAll(List<Path> files, Exception e) {
    for (Path p : files) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException cleanup) {
        e.addSuppressed(cleanup);
      }
    }
  }
}
