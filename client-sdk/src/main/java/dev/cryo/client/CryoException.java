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

  /**
   * Creates an exception; the SDK does this itself, tests and wrappers may too.
   *
   * @param message what went wrong and what to change
   * @param cause the underlying failure, or null
   */
  public CryoException(ErrorCode code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  /** What kind of failure: decides whether to retry, fix the input or fix the state first. */
  public ErrorCode code() {
    return code;
  }

  /** What went wrong, one value per gRPC status code. */
  public enum ErrorCode {
    /** The call was cancelled (by this client, or interrupted). */
    CANCELLED,
    /** An error the server could not classify. */
    UNKNOWN,
    /** Bad input: malformed XML, a bad value; the message says what to change. */
    INVALID_ARGUMENT,
    /** The deadline passed before the operation finished. */
    DEADLINE_EXCEEDED,
    /** No such domain (or other named object). */
    NOT_FOUND,
    /** The name is taken by another object. */
    ALREADY_EXISTS,
    /** The server refused the caller. */
    PERMISSION_DENIED,
    /** The server is out of some resource (disk, memory, a quota). */
    RESOURCE_EXHAUSTED,
    /** The object's state forbids the call (e.g. start a running domain): fix the state first. */
    FAILED_PRECONDITION,
    /** Another operation holds the object; retry the whole sequence later. */
    ABORTED,
    /** A value is outside the range the operation accepts. */
    OUT_OF_RANGE,
    /** The server does not offer this call (an older server). */
    UNIMPLEMENTED,
    /** A server bug or an unexpected failure of QEMU. */
    INTERNAL,
    /** The server cannot be reached or is restarting: retrying the call may work. */
    UNAVAILABLE,
    /** Data was lost or corrupted (e.g. a damaged image). */
    DATA_LOSS,
    /** The caller has no valid credentials. */
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
