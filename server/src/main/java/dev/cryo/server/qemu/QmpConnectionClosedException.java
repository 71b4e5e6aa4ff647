package dev.cryo.server.qemu;

import java.io.IOException;

/**
 * The QMP connection ended (QEMU exited, closed the socket, the socket failed, or the client was
 * closed) before a command could be answered, or a command was issued after it ended.
 *
 * <p>{@link QemuMonitor} reports it as {@link QemuGoneException}: retrying on the same {@link
 * QmpConnection} cannot succeed.
 */
final class QmpConnectionClosedException extends IOException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was pending or attempted when the connection was found closed
   * @param cause the I/O failure that ended the connection, or {@code null} for a clean EOF or a
   *     local {@code close()}
   */
  public QmpConnectionClosedException(String message, Throwable cause) {
    super(message, cause);
  }
}
