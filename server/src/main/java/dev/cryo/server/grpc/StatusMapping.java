package dev.cryo.server.grpc;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.ErrorKind;
import dev.cryo.server.error.Reason;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.EnumMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one table from {@link ErrorKind} to gRPC status code, and the one place a failure becomes a
 * status: with a {@code google.rpc.ErrorInfo} (reason, domain {@value Reason#DOMAIN}, metadata)
 * and, when a request field is at fault, a {@code google.rpc.BadRequest}, both in the standard
 * {@code grpc-status-details-bin} trailer every gRPC language reads. Cryo's exceptions carry a
 * message meant for the caller; anything else is a bug or a host failure, logged in full and
 * reported as INTERNAL without internals.
 */
public final class StatusMapping {
  private static final Logger log = LoggerFactory.getLogger(StatusMapping.class);
  private static final Map<ErrorKind, Status.Code> CODES = new EnumMap<>(ErrorKind.class);

  static {
    CODES.put(ErrorKind.NOT_FOUND, Status.Code.NOT_FOUND);
    CODES.put(ErrorKind.EXISTS, Status.Code.ALREADY_EXISTS);
    CODES.put(ErrorKind.BAD_REQUEST, Status.Code.INVALID_ARGUMENT);
    CODES.put(ErrorKind.WRONG_STATE, Status.Code.FAILED_PRECONDITION);
    CODES.put(ErrorKind.BUSY, Status.Code.ABORTED);
    CODES.put(ErrorKind.CORRUPT, Status.Code.DATA_LOSS);
    CODES.put(ErrorKind.DENIED, Status.Code.PERMISSION_DENIED);
    CODES.put(ErrorKind.UNAUTHENTICATED, Status.Code.UNAUTHENTICATED);
    CODES.put(ErrorKind.LIMIT, Status.Code.RESOURCE_EXHAUSTED);
    CODES.put(ErrorKind.TIMEOUT, Status.Code.DEADLINE_EXCEEDED);
    CODES.put(ErrorKind.CANCELLED, Status.Code.CANCELLED);
    CODES.put(ErrorKind.UNAVAILABLE, Status.Code.UNAVAILABLE);
    CODES.put(ErrorKind.INTERNAL, Status.Code.INTERNAL);
  }

  private StatusMapping() {}

  /** The gRPC status code of {@code kind}. */
  public static Status.Code code(ErrorKind kind) {
    return CODES.get(kind);
  }

  /**
   * The status, and the trailers with its details, to close a call with for {@code t}. A gRPC
   * status exception passes through as it is.
   */
  public static StatusRuntimeException toException(Throwable t) {
    if (t instanceof StatusRuntimeException sre) {
      return sre;
    }
    if (t instanceof StatusException se) {
      return se.getStatus().asRuntimeException(se.getTrailers());
    }
    CryoException e = asCryo(t);
    Status.Code code = code(e.kind());
    if (code == Status.Code.INTERNAL) {
      log.error("internal error: {}", e.getMessage(), t);
    }
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder()
            .setCode(code.value())
            .setMessage(String.valueOf(e.getMessage()))
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason(e.reason().name())
                        .setDomain(Reason.DOMAIN)
                        .putAllMetadata(e.metadata())
                        .build()));
    if (e.field() != null) {
      status.addDetails(
          Any.pack(
              BadRequest.newBuilder()
                  .addFieldViolations(
                      BadRequest.FieldViolation.newBuilder()
                          .setField(e.field())
                          .setDescription(String.valueOf(e.getMessage())))
                  .build()));
    }
    StatusRuntimeException sre = StatusProto.toStatusRuntimeException(status.build());
    return sre.getStatus().withCause(t).asRuntimeException(sre.getTrailers());
  }

  /** A status and details for {@code reason}, for interceptors that refuse a call themselves. */
  public static StatusRuntimeException toException(Reason reason, String message) {
    return toException(new CryoException(reason, message));
  }

  /** {@code t} as a Cryo failure: anything unknown is INTERNAL, with where to look. */
  private static CryoException asCryo(Throwable t) {
    if (t instanceof CryoException e) {
      return e;
    }
    return new CryoException(
        Reason.INTERNAL,
        "unexpected server error (" + t.getClass().getSimpleName() + "); see the server log",
        t);
  }
}
