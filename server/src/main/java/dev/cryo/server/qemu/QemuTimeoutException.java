package dev.cryo.server.qemu;

import dev.cryo.server.error.DeadlineExceededException;

/**
 * A guest's QEMU did not answer a command, or did not finish a job, in the time allowed. It may
 * still carry it out: the outcome is unknown, as grpc-java's DEADLINE_EXCEEDED says ("may be
 * returned even if the operation has completed successfully"). Built only by {@link QemuMonitor}.
 */
public final class QemuTimeoutException extends DeadlineExceededException {
  private static final long serialVersionUID = 1L;

  QemuTimeoutException(String message, Throwable cause) {
    super(message, cause);
  }
}
