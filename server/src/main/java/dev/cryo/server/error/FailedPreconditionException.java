package dev.cryo.server.error;

/** The request is valid but the current state forbids it: FAILED_PRECONDITION. */
public class FailedPreconditionException extends CryoException {
  private static final long serialVersionUID = 1L;

  public FailedPreconditionException(String message) {
    super(Reason.FAILED_PRECONDITION, message);
  }

  public FailedPreconditionException(String message, Throwable cause) {
    super(Reason.FAILED_PRECONDITION, message, cause);
  }
}
