package dev.cryo.server.error;

/** The server or QEMU failed in a way the caller cannot fix: INTERNAL. */
public class InternalException extends CryoException {
  private static final long serialVersionUID = 1L;

  public InternalException(String message) {
    super(Reason.INTERNAL, message);
  }

  public InternalException(String message, Throwable cause) {
    super(Reason.INTERNAL, message, cause);
  }
}
