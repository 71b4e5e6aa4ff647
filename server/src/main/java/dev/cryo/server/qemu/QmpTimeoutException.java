package dev.cryo.server.qemu;

import java.io.IOException;
import java.time.Duration;

/**
 * QEMU did not answer a QMP command within the caller's timeout.
 *
 * <p>The connection stays open and the command's pending entry has been dropped, so a late reply is
 * ignored. QEMU may still have executed (or still be executing) the command: the outcome is
 * unknown, so callers should re-query state rather than assume the command had no effect.
 */
final class QmpTimeoutException extends IOException {
  private static final long serialVersionUID = 1L;

  private final String command;
  private final transient Duration timeout;

  /**
   * Creates the exception.
   *
   * @param command the QMP command that was not answered
   * @param timeout how long the caller waited
   */
  public QmpTimeoutException(String command, Duration timeout) {
    super("QMP command '" + command + "' got no reply within " + timeout.toMillis() + " ms");
    this.command = command;
    this.timeout = timeout;
  }

  /** The QMP command that was not answered. */
  public String command() {
    return command;
  }

  /** How long the caller waited for the reply. */
  public Duration timeout() {
    return timeout;
  }
}
