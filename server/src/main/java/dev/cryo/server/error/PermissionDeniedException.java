package dev.cryo.server.error;

/** The caller may not do this, e.g. a path outside the allowed folders: PERMISSION_DENIED. */
public class PermissionDeniedException extends CryoException {
  private static final long serialVersionUID = 1L;

  public PermissionDeniedException(String message) {
    super(Reason.PERMISSION_DENIED, message);
  }

  public PermissionDeniedException(String message, Throwable cause) {
    super(Reason.PERMISSION_DENIED, message, cause);
  }
}
