package dev.cryo.server.error;

/** The request itself is malformed, whatever the server's state: INVALID_ARGUMENT. */
public class InvalidArgumentException extends CryoException {
  private static final long serialVersionUID = 1L;

  public InvalidArgumentException(String message) {
    super(Reason.INVALID_ARGUMENT, message);
  }

  public InvalidArgumentException(String message, Throwable cause) {
    super(Reason.INVALID_ARGUMENT, message, cause);
  }
}
