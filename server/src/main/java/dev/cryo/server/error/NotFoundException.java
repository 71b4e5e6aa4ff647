package dev.cryo.server.error;

/** A named thing (domain, snapshot, image, checkpoint) does not exist: NOT_FOUND. */
public class NotFoundException extends CryoException {
  private static final long serialVersionUID = 1L;

  public NotFoundException(String message) {
    super(Reason.NOT_FOUND, message);
  }

  public NotFoundException(String message, Throwable cause) {
    super(Reason.NOT_FOUND, message, cause);
  }
}
