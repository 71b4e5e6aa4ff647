package dev.cryo.server.qemu;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;

/**
 * A guest's QEMU went away (it exited, was killed, or its monitor connection failed) before it
 * answered. Built only by {@link QemuMonitor}.
 *
 * <p>{@link Reason#QEMU_GONE}, FAILED_PRECONDITION, not UNAVAILABLE: by grpc-java's rule ({@code
 * Status.java}), UNAVAILABLE means "retry the same call". Here the domain is no longer running, and
 * the same call fails the same way until someone starts the domain again: the state must be fixed
 * first. Nor INTERNAL: the server did nothing wrong, and the caller can act on it.
 */
public final class QemuGoneException extends CryoException {
  private static final long serialVersionUID = 1L;

  QemuGoneException(String message, Throwable cause) {
    super(Reason.QEMU_GONE, message, cause);
  }
}
