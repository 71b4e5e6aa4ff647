package dev.cryo.server.qemu;

/**
 * QEMU answered a QMP command with an {@code error} reply.
 *
 * <p>The connection is still usable; only this command failed. {@link #errorClass()} is QEMU's
 * machine-readable class ({@code "GenericError"}, {@code "CommandNotFound"}, {@code
 * "DeviceNotFound"}, {@code "DeviceNotActive"}, {@code "KVMMissingCap"}), {@link #description()}
 * its human-readable text.
 */
final class QmpException extends Exception {
  private static final long serialVersionUID = 1L;

  private final String command;
  private final String errorClass;
  private final String description;

  /**
   * Creates the exception for a failed command.
   *
   * @param command the QMP command name, e.g. {@code "device_add"}
   * @param errorClass QEMU's error class, e.g. {@code "GenericError"}
   * @param description QEMU's error description
   */
  public QmpException(String command, String errorClass, String description) {
    super("QMP command '" + command + "' failed: " + errorClass + ": " + description);
    this.command = command;
    this.errorClass = errorClass;
    this.description = description;
  }

  /** The QMP command that failed, e.g. {@code "device_add"}. */
  public String command() {
    return command;
  }

  /** QEMU's error class, e.g. {@code "GenericError"} or {@code "CommandNotFound"}. */
  public String errorClass() {
    return errorClass;
  }

  /** QEMU's human-readable error description. */
  public String description() {
    return description;
  }
}
