package dev.cryo.server.error;

/** The caller cancelled the operation: CANCELLED. */
public class CancelledException extends CryoException {
  private static final long serialVersionUID = 1L;

  public CancelledException(String message) {
    super(Reason.CANCELLED, message);
  }

  public CancelledException(String message, Throwable cause) {
    super(Reason.CANCELLED, message, cause);
  }
}
