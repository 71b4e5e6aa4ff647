package dev.cryo.server.error;

/** An operation did not finish in the time it was given: DEADLINE_EXCEEDED. */
public class DeadlineExceededException extends CryoException {
  private static final long serialVersionUID = 1L;

  public DeadlineExceededException(String message) {
    super(Reason.DEADLINE_EXCEEDED, message);
  }

  public DeadlineExceededException(String message, Throwable cause) {
    super(Reason.DEADLINE_EXCEEDED, message, cause);
  }
}
