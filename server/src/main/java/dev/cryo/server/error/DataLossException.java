package dev.cryo.server.error;

/** Bytes were corrupted or lost (digest mismatch, truncated image): DATA_LOSS. */
public class DataLossException extends CryoException {
  private static final long serialVersionUID = 1L;

  public DataLossException(String message) {
    super(Reason.DATA_LOSS, message);
  }

  public DataLossException(String message, Throwable cause) {
    super(Reason.DATA_LOSS, message, cause);
  }
}
