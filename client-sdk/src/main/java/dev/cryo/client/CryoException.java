package dev.cryo.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Map;

/**
 * The one exception the SDK throws. {@link #code()} says what kind of failure it was, {@link
 * #reason()} exactly which (branch on these, never on the message), {@link #metadata()} what it is
 * about (e.g. {@code domain}) and {@link #field()} which request field was at fault; the message is
 * the server's explanation of what to change. The reason, metadata and field come from the status
 * details every Cryo server sends ({@code google.rpc.ErrorInfo}, {@code google.rpc.BadRequest});
 * see {@code cryo/v1/errors.proto}.
 */
public final class CryoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private static final String REASON_DOMAIN = "cryo.dev";

  private final ErrorCode code;
  private final Reason reason;
  private final Map<String, String> metadata;
  private final String field;

  /**
   * Creates an exception; the SDK does this itself, tests and wrappers may too.
   *
   * @param message what went wrong and what to change
   * @param cause the underlying failure, or null
   */
  public CryoException(ErrorCode code, String message, Throwable cause) {
    this(code, Reason.NONE, Map.of(), null, message, cause);
  }

  private CryoException(
      ErrorCode code,
      Reason reason,
      Map<String, String> metadata,
      String field,
      String message,
      Throwable cause) {
    super(message, cause);
    this.code = code;
    this.reason = reason;
    this.metadata = Map.copyOf(metadata);
    this.field = field;
  }

  /**
   * This failure again, thrown from the current stack (the caller's, not a gRPC thread's), with
   * the same code, reason, metadata and field.
   */
  CryoException atCaller() {
    return new CryoException(
        code, reason, metadata, field, getMessage(), getCause() != null ? getCause() : this);
  }

  /** This failure with {@code message} (which says what the SDK was doing), caused by this. */
  CryoException explained(String message) {
    return new CryoException(code, reason, metadata, field, message, this);
  }

  /** What kind of failure: decides whether to retry, fix the input or fix the state first. */
  public ErrorCode code() {
    return code;
  }

  /**
   * Exactly why, as the server said: {@code DOMAIN_NOT_FOUND}, {@code ROLE_DENIED}, {@code
   * IMAGE_DIGEST_MISMATCH}... {@link Reason#NONE} when the failure did not come from a Cryo server
   * (a proxy, the network) or from the SDK itself, {@link Reason#UNKNOWN} for a reason newer than
   * this SDK: then go by {@link #code()}.
   */
  public Reason reason() {
    return reason;
  }

  /** What the reason is about, e.g. {@code domain=vm1}; empty when the server sent nothing. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The request field at fault as a field path (e.g. {@code xml}), or null. */
  public String field() {
    return field;
  }

  /**
   * Exactly why a call failed: the values of {@code cryo.v1.ErrorReason} (see {@code
   * cryo/v1/errors.proto} for what each means), plus {@link #NONE} and {@link #UNKNOWN}.
   */
  public enum Reason {
    /** No reason given: the failure came from the SDK, a proxy or the network. */
    NONE,
    /** A reason this SDK does not know yet (a newer server): go by {@link #code()}. */
    UNKNOWN,
    NOT_FOUND,
    ALREADY_EXISTS,
    INVALID_ARGUMENT,
    FAILED_PRECONDITION,
    ABORTED,
    DATA_LOSS,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    RESOURCE_EXHAUSTED,
    DEADLINE_EXCEEDED,
    CANCELLED,
    UNAVAILABLE,
    INTERNAL,
    DOMAIN_NOT_FOUND,
    SNAPSHOT_NOT_FOUND,
    CHECKPOINT_NOT_FOUND,
    IMAGE_NOT_FOUND,
    DOMAIN_EXISTS,
    SNAPSHOT_EXISTS,
    CHECKPOINT_EXISTS,
    FILE_EXISTS,
    DOMAIN_XML_INVALID,
    IMAGE_XML_INVALID,
    IMAGE_FORMAT_UNSUPPORTED,
    DOMAIN_STATE,
    DOMAIN_BUSY,
    IMAGE_DIGEST_MISMATCH,
    IMAGE_CORRUPT,
    IMAGE_TRUNCATED,
    PATH_NOT_ALLOWED,
    ROLE_DENIED,
    CALLER_UNKNOWN,
    CREDENTIALS_REVOKED,
    JOB_LIMIT,
    IMAGE_TOO_LARGE,
    STREAM_BUFFER_FULL,
    STREAM_STALLED,
    QEMU_GONE,
    QEMU_REFUSED,
    OBJECT_STORE_UNAVAILABLE,
    OBJECT_STORE_DENIED,
    BUCKET_NOT_FOUND,
    HOST_PORT_IN_USE,
    CPU_MODEL_UNKNOWN,
    CPU_MODE_NEEDS_KVM
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
    Reason reason = Reason.NONE;
    Map<String, String> metadata = Map.of();
    String field = null;
    com.google.rpc.Status details = StatusProto.fromThrowable(t);
    if (details != null) {
      for (Any any : details.getDetailsList()) {
        try {
          if (any.is(ErrorInfo.class)) {
            ErrorInfo info = any.unpack(ErrorInfo.class);
            if (REASON_DOMAIN.equals(info.getDomain())) {
              reason = reasonNamed(info.getReason());
              metadata = info.getMetadataMap();
            }
          } else if (any.is(BadRequest.class)) {
            BadRequest bad = any.unpack(BadRequest.class);
            if (bad.getFieldViolationsCount() > 0) {
              field = bad.getFieldViolations(0).getField();
            }
          }
        } catch (InvalidProtocolBufferException malformed) {
          // A detail we cannot read says nothing; the status code and message still do.
        }
      }
    }
    return new CryoException(
        ErrorCode.valueOf(status.getCode().name()),
        reason,
        metadata,
        field,
        message,
        t instanceof StatusRuntimeException ? t : status.asRuntimeException());
  }

  private static Reason reasonNamed(String name) {
    try {
      Reason r = Reason.valueOf(name);
      return r == Reason.NONE || r == Reason.UNKNOWN ? Reason.UNKNOWN : r;
    } catch (IllegalArgumentException newerThanThisSdk) {
      return Reason.UNKNOWN;
    }
  }
}
