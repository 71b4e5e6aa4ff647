package dev.cryo.server.error;

/** Another job holds the resource; retry the whole operation later: ABORTED. */
public class AbortedException extends CryoException {
  private static final long serialVersionUID = 1L;

  public AbortedException(String message) {
    super(Reason.ABORTED, message);
  }

  public AbortedException(String message, Throwable cause) {
    super(Reason.ABORTED, message, cause);
  }
}
