package dev.cryo.server.qemu;

import java.time.Instant;

/**
 * An asynchronous event from a guest's QEMU, decoded from QMP (names and members as in QEMU's
 * {@code qapi/*.json}). Events Cryo does not act on arrive as {@link Other}.
 */
public sealed interface QemuEvent {
  /** When QEMU emitted the event (QEMU's host clock, microsecond precision). */
  Instant timestamp();

  /** {@code STOP}: the guest's CPUs stopped. */
  record Stop(Instant timestamp) implements QemuEvent {}

  /** {@code RESUME}: the guest's CPUs run again. */
  record Resume(Instant timestamp) implements QemuEvent {}

  /**
   * {@code SHUTDOWN}: the guest powered off, or QEMU was asked to quit.
   *
   * @param guest whether the guest itself asked (ACPI, reset)
   * @param reason QEMU's {@code ShutdownCause}, e.g. {@code "guest-shutdown"}
   */
  record Shutdown(Instant timestamp, boolean guest, String reason) implements QemuEvent {}

  /**
   * {@code BLOCK_IO_ERROR}: a disk read or write failed.
   *
   * @param nodeName the failing node; null when QEMU names none
   * @param operation {@code "read"} or {@code "write"}
   * @param action what QEMU did: {@code "ignore"}, {@code "report"} or {@code "stop"}
   */
  record BlockIoError(Instant timestamp, String device, String nodeName, String operation,
      String action, String reason) implements QemuEvent {}

  /**
   * {@code MIGRATION}: the migration (a save or a restore) changed state.
   *
   * @param status QEMU's {@code MigrationStatus}, e.g. {@code "active"}, {@code "completed"}
   */
  record Migration(Instant timestamp, String status) implements QemuEvent {}

  /**
   * {@code JOB_STATUS_CHANGE}: a background job moved on.
   *
   * @param status QEMU's {@code JobStatus}, e.g. {@code "running"}, {@code "ready"}, {@code
   *     "concluded"}
   */
  record JobStatusChange(Instant timestamp, String id, String status) implements QemuEvent {}

  /**
   * {@code BLOCK_JOB_COMPLETED} or {@code BLOCK_JOB_CANCELLED}: a block job ended.
   *
   * @param cancelled true for {@code BLOCK_JOB_CANCELLED}
   * @param type QEMU's {@code JobType}, e.g. {@code "backup"}
   * @param device the job's id (QEMU calls it {@code device} for block jobs)
   * @param len the job's total work, in bytes
   * @param offset the work done when it ended, in bytes
   * @param error why it failed; null when it succeeded or was cancelled
   */
  record BlockJobEnded(Instant timestamp, boolean cancelled, String type, String device, long len,
      long offset, String error) implements QemuEvent {}

  /** Any other event, by its QMP name. */
  record Other(Instant timestamp, String name) implements QemuEvent {}
}
