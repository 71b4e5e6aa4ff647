package dev.cryo.server.qemu;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import java.util.Arrays;

/**
 * A guest's QEMU answered a command with an error, or a job it ran failed. QEMU is still there;
 * only this command failed. Built only by {@link QemuMonitor}, which words the message for the
 * caller; catch it to say something more specific about a particular failure.
 */
public final class QemuRefusedException extends CryoException {
  private static final long serialVersionUID = 1L;

  /** QEMU's error classes ({@code QapiErrorClass} in {@code qapi/error.json}), plus jobs. */
  public enum ErrorClass {
    GENERIC_ERROR("GenericError"),
    COMMAND_NOT_FOUND("CommandNotFound"),
    DEVICE_NOT_ACTIVE("DeviceNotActive"),
    DEVICE_NOT_FOUND("DeviceNotFound"),
    KVM_MISSING_CAP("KVMMissingCap"),
    /** Not a QMP class: a job started fine and ended with an error ({@code query-jobs}). */
    JOB_FAILED("JobFailed"),
    /** A class this QEMU has and Cryo does not know. */
    UNKNOWN("");

    private final String wire;

    ErrorClass(String wire) {
      this.wire = wire;
    }

    /** The class for QEMU's name; {@link #UNKNOWN} for a name Cryo does not know. */
    static ErrorClass of(String wire) {
      return Arrays.stream(values()).filter(c -> c.wire.equals(wire)).findFirst()
          .orElse(UNKNOWN);
    }
  }

  private final String command;
  private final ErrorClass errorClass;
  private final String description;

  QemuRefusedException(String message, String command, ErrorClass errorClass,
      String description, Throwable cause) {
    super(Reason.QEMU_REFUSED, message, cause);
    this.command = command;
    this.errorClass = errorClass;
    this.description = description;
    with("qemu_command", command);
    with("qemu_error_class", errorClass.name());
  }

  /** The QMP command that failed, e.g. {@code "blockdev-add"}. */
  public String command() {
    return command;
  }

  /** QEMU's error class. */
  public ErrorClass errorClass() {
    return errorClass;
  }

  /** QEMU's own words. */
  public String description() {
    return description;
  }
}
