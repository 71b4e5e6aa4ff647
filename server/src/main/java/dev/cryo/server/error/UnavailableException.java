package dev.cryo.server.error;

/** A transient failure; the same call may succeed if retried: UNAVAILABLE. */
public class UnavailableException extends CryoException {
  private static final long serialVersionUID = 1L;

  public UnavailableException(String message) {
    super(Reason.UNAVAILABLE, message);
  }

  public UnavailableException(String message, Throwable cause) {
    super(Reason.UNAVAILABLE, message, cause);
  }
}
