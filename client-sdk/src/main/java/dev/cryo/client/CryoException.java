package dev.cryo.client;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * The one exception the SDK throws. {@link #code()} says what kind of failure it was; the message
 * is the server's explanation of what to change.
 */
public final class CryoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;

  public CryoException(ErrorCode code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public ErrorCode code() {
    return code;
  }

  /** What went wrong, one value per gRPC status code. */
  public enum ErrorCode {
    CANCELLED,
    UNKNOWN,
    INVALID_ARGUMENT,
    DEADLINE_EXCEEDED,
    NOT_FOUND,
    ALREADY_EXISTS,
    PERMISSION_DENIED,
    RESOURCE_EXHAUSTED,
    FAILED_PRECONDITION,
    ABORTED,
    OUT_OF_RANGE,
    UNIMPLEMENTED,
    INTERNAL,
    UNAVAILABLE,
    DATA_LOSS,
    UNAUTHENTICATED
  }

  /** Converts any failure of a call into a CryoException; the one place this happens. */
  static CryoException from(Throwable t) {
    if (t instanceof CryoException ce) {
      return ce;
    }
    if (t instanceof InterruptedException) {
      Thread.currentThread().interrupt();
      return new CryoException(ErrorCode.CANCELLED, "interrupted", t);
    }
    if (t instanceof java.util.concurrent.TimeoutException) {
      return new CryoException(ErrorCode.DEADLINE_EXCEEDED, "no answer in time", t);
    }
    Status status = Status.fromThrowable(t);
    String message = status.getDescription() != null ? status.getDescription()
        : status.getCode().toString();
    return new CryoException(ErrorCode.valueOf(status.getCode().name()), message,
        t instanceof StatusRuntimeException ? t : status.asRuntimeException());
  }
}
