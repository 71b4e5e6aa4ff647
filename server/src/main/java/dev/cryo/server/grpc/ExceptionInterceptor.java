package dev.cryo.server.grpc;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Lets service code throw: an exception escaping a handler closes the call with the status and
 * details {@link StatusMapping} gives it, instead of grpc-java's bare UNKNOWN. Every status a
 * cryo.v1 call closes with, thrown or not, passes here last, and loses the server's private folders
 * (its state folder) from its message: a caller is told about the paths it named, not about the
 * host's layout.
 */
final class ExceptionInterceptor implements ServerInterceptor {
  /** Stands for a private folder in messages to callers. */
  static final String PRIVATE = "<server state>";

  /** The trailer gRPC's StatusProto reads rich error details from. */
  private static final Metadata.Key<com.google.rpc.Status> DETAILS =
      Metadata.Key.of(
          "grpc-status-details-bin",
          ProtoUtils.metadataMarshaller(com.google.rpc.Status.getDefaultInstance()));

  private final List<String> privateFolders;

  /**
   * @param privateFolders folders whose paths never reach a caller
   */
  ExceptionInterceptor(List<Path> privateFolders) {
    this.privateFolders =
        privateFolders.stream().map(p -> p.toAbsolutePath().normalize().toString()).toList();
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    AtomicBoolean closed = new AtomicBoolean();
    ServerCall<ReqT, RespT> guarded =
        new io.grpc.ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            if (closed.compareAndSet(false, true)) {
              super.close(redact(status), redact(trailers));
            }
          }
        };
    ServerCall.Listener<ReqT> listener;
    try {
      listener = next.startCall(guarded, headers);
    } catch (RuntimeException e) {
      fail(guarded, e);
      return new ServerCall.Listener<>() {};
    }
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onMessage(ReqT message) {
        try {
          super.onMessage(message);
        } catch (RuntimeException e) {
          fail(guarded, e);
        }
      }

      @Override
      public void onHalfClose() {
        try {
          super.onHalfClose();
        } catch (RuntimeException e) {
          fail(guarded, e);
        }
      }

      @Override
      public void onReady() {
        try {
          super.onReady();
        } catch (RuntimeException e) {
          fail(guarded, e);
        }
      }
    };
  }

  private static void fail(ServerCall<?, ?> call, RuntimeException e) {
    StatusRuntimeException status = StatusMapping.toException(e);
    call.close(status.getStatus(), status.getTrailers());
  }

  /** {@code status} without the private folders in its description. */
  Status redact(Status status) {
    String message = status.getDescription();
    if (message == null) {
      return status;
    }
    String redacted = redact(message);
    return redacted.equals(message) ? status : status.withDescription(redacted);
  }

  /** {@code trailers} with the messages in their status details redacted. */
  Metadata redact(Metadata trailers) {
    com.google.rpc.Status details = trailers.get(DETAILS);
    if (details == null) {
      return trailers;
    }
    com.google.rpc.Status.Builder out =
        details.toBuilder().setMessage(redact(details.getMessage()));
    for (int i = 0; i < out.getDetailsCount(); i++) {
      Any detail = out.getDetails(i);
      if (detail.is(BadRequest.class)) {
        BadRequest.Builder bad = unpack(detail).toBuilder();
        bad.getFieldViolationsBuilderList()
            .forEach(v -> v.setDescription(redact(v.getDescription())));
        out.setDetails(i, Any.pack(bad.build()));
      }
    }
    trailers.discardAll(DETAILS);
    trailers.put(DETAILS, out.build());
    return trailers;
  }

  private static BadRequest unpack(Any detail) {
    try {
      return detail.unpack(BadRequest.class);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("StatusMapping wrote a BadRequest it cannot read", e);
    }
  }

  String redact(String message) {
    String out = message;
    for (String folder : privateFolders) {
      out = out.replace(folder, PRIVATE);
    }
    return out;
  }
}
