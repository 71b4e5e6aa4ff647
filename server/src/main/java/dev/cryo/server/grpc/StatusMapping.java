package dev.cryo.server.grpc;

import dev.cryo.server.error.AbortedException;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.error.ResourceExhaustedException;
import dev.cryo.server.error.UnavailableException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one table from exception to gRPC status. Subtypes come first; the first entry the exception
 * is an instance of wins. Our own exceptions carry a message meant for the caller; anything else
 * is a bug or a host failure, logged in full and reported as INTERNAL without internals.
 */
public final class StatusMapping {
  private static final Logger log = LoggerFactory.getLogger(StatusMapping.class);
  private static final Map<Class<? extends Throwable>, Status> TABLE = new LinkedHashMap<>();

  static {
    TABLE.put(NotFoundException.class, Status.NOT_FOUND);
    TABLE.put(AlreadyExistsException.class, Status.ALREADY_EXISTS);
    TABLE.put(InvalidArgumentException.class, Status.INVALID_ARGUMENT);
    TABLE.put(FailedPreconditionException.class, Status.FAILED_PRECONDITION);
    TABLE.put(AbortedException.class, Status.ABORTED);
    TABLE.put(DataLossException.class, Status.DATA_LOSS);
    TABLE.put(PermissionDeniedException.class, Status.PERMISSION_DENIED);
    TABLE.put(UnavailableException.class, Status.UNAVAILABLE);
    TABLE.put(DeadlineExceededException.class, Status.DEADLINE_EXCEEDED);
    TABLE.put(CancelledException.class, Status.CANCELLED);
    TABLE.put(ResourceExhaustedException.class, Status.RESOURCE_EXHAUSTED);
    TABLE.put(InternalException.class, Status.INTERNAL);
  }

  private StatusMapping() {}

  /** The status to send for {@code t}, with {@code t} as its cause. */
  public static Status toStatus(Throwable t) {
    if (t instanceof StatusRuntimeException sre) {
      return sre.getStatus();
    }
    if (t instanceof StatusException se) {
      return se.getStatus();
    }
    for (Map.Entry<Class<? extends Throwable>, Status> e : TABLE.entrySet()) {
      if (e.getKey().isInstance(t)) {
        if (e.getValue().getCode() == Status.Code.INTERNAL) {
          log.error("internal error", t);
        }
        return e.getValue().withDescription(t.getMessage()).withCause(t);
      }
    }
    log.error("unexpected server error", t);
    return Status.INTERNAL.withDescription("unexpected server error (" + t.getClass().getSimpleName()
        + "); see the server log").withCause(t);
  }

  /** {@link #toStatus} as an exception to pass to {@code onError}. */
  public static StatusRuntimeException toException(Throwable t) {
    return toStatus(t).asRuntimeException();
  }
}
