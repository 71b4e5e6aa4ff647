package dev.cryo.server.error;

/** The name is taken: ALREADY_EXISTS. */
public class AlreadyExistsException extends CryoException {
  private static final long serialVersionUID = 1L;

  public AlreadyExistsException(String message) {
    super(Reason.ALREADY_EXISTS, message);
  }

  public AlreadyExistsException(String message, Throwable cause) {
    super(Reason.ALREADY_EXISTS, message, cause);
  }
}
