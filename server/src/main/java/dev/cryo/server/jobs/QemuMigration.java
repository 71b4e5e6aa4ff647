package dev.cryo.server.jobs;

import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuRefusedException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The QMP migration plumbing that saves and restores share: setting a migration up, starting it
 * into a descriptor passed with {@code getfd}, waiting for its end event, asking how it went, and
 * cancelling one that is still running.
 */
final class QemuMigration {
  /** QEMU's default 32 MiB/s cap would make it the bottleneck; libvirt lifts it the same way. */
  private static final long UNLIMITED_BANDWIDTH = 1L << 50;
  private static final Duration END_WAIT = Duration.ofSeconds(120);
  private static final Set<String> DONE = Set.of("completed", "failed", "cancelled");

  private QemuMigration() {}

  /** Turns on migration events, and for an outgoing migration lifts QEMU's bandwidth cap. */
  static void setUp(QemuMonitor qmp, boolean outgoing) {
    qmp.migrateSetCapabilities(List.of(new QemuMonitor.MigrationCapability("events", true)));
    if (outgoing) {
      qmp.migrateSetParameters(new QemuMonitor.MigrationParameters(UNLIMITED_BANDWIDTH));
    }
  }

  /** The next migration event that says the migration ended, however. */
  static CompletableFuture<QemuEvent.Migration> nextEnd(QemuMonitor qmp) {
    return qmp.nextEvent(QemuEvent.Migration.class, e -> DONE.contains(e.status()));
  }

  /**
   * Starts an outgoing migration into the descriptor QEMU already holds as {@code fdName}
   * ({@code migrate fd:NAME}); if QEMU refuses, it closes that descriptor again.
   */
  static void startToFd(QemuMonitor qmp, String fdName) {
    try {
      qmp.migrate("fd:" + fdName);
    } catch (QemuRefusedException e) {
      qmp.closefd(fdName);
      throw e;
    }
  }

  /** Waits for {@code end}, at most {@link #END_WAIT}; DEADLINE_EXCEEDED naming {@code what}. */
  static QemuEvent.Migration await(QemuMonitor qmp, CompletableFuture<QemuEvent.Migration> end,
      String what) {
    return qmp.await(end, END_WAIT).orElseThrow(() -> new DeadlineExceededException(
        "timed out after " + END_WAIT.toSeconds() + " s waiting for " + what));
  }

  /** QEMU's description of why the last migration failed, or what kept us from asking. */
  static String error(QemuMonitor qmp) {
    try {
      String d = qmp.queryMigrate().errorDesc();
      return d == null ? "no detail from QEMU" : d;
    } catch (RuntimeException e) {
      return e.getMessage();
    }
  }

  /** How long the last migration stopped the guest's CPUs, as QEMU measured it; 0 if unknown. */
  static long downtimeNanos(QemuMonitor qmp) {
    try {
      Long d = qmp.queryMigrate().downtimeMillis();
      return d == null ? 0 : TimeUnit.MILLISECONDS.toNanos(d);
    } catch (RuntimeException e) {
      return 0;
    }
  }

  /**
   * Cancels the migration if one is still running and waits (30 s at most) for it to end.
   *
   * @throws Exception whatever QEMU or the wait threw
   */
  static void cancelIfRunning(QemuMonitor qmp) throws Exception {
    // "none", or how the last migration (maybe an earlier save's) ended: nothing to cancel.
    String status = qmp.queryMigrate().status();
    if (!"none".equals(status) && !DONE.contains(status)) {
      CompletableFuture<QemuEvent.Migration> end = nextEnd(qmp);
      qmp.migrateCancel();
      if (!DONE.contains(qmp.queryMigrate().status())) {
        end.get(30, TimeUnit.SECONDS);
      } else {
        end.cancel(false);
      }
    }
  }
}
