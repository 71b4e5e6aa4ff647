package dev.cryo.server.grpc;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MessageOrBuilder;
import dev.cryo.server.auth.AuditLog;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.ReloadingAccessFile;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Writes one {@link AuditLog} record per completed call that changes state or reads guest bytes:
 * every method but the Get, List and Watch ones, which only look (the same split as the
 * read-only role's; calls that return guest memory or disk bytes, such as SaveDomain to a
 * stream, StreamBackup and OpenConsole, are not among those). Outermost in the chain, so calls
 * refused by authentication are recorded too.
 *
 * <p>The domain is found generically, through the protobuf descriptor: the request's (for a
 * client stream, its first message's) string field {@code domain}, else {@code name}, else
 * {@code managed_save_name}, looking one or two messages deep ({@code options}, {@code config});
 * failing that, the first response's (DefineDomain from XML answers with the domain). A new RPC
 * that follows the API's naming is covered without a change here.
 *
 * <p>The record is made when the server closes the call (with its status) or the client cancels
 * it (CANCELLED), whichever comes first; for a stream that is at its end.
 */
final class AuditInterceptor implements ServerInterceptor {
  private static final List<String> DOMAIN_FIELDS = List.of("domain", "name",
      "managed_save_name");
  private static final int MAX_DEPTH = 2;

  private final AuditLog audit;
  /** Null when authentication is off: every caller is {@link Principal#LOCAL}. */
  private final ReloadingAccessFile access;
  private final Clock clock;

  AuditInterceptor(AuditLog audit, ReloadingAccessFile access, Clock clock) {
    this.audit = audit;
    this.access = access;
    this.clock = clock;
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (AuthInterceptor.isReadOnly(call.getMethodDescriptor().getBareMethodName())) {
      return next.startCall(call, headers);
    }
    // Resolved as the authentication interceptor does, from the same access file; a reload
    // between the two lookups could only make this name the principal of the newer file.
    String principal = access == null ? Principal.LOCAL.name()
        : Credential.of(call, headers).resolve(access.current()).map(Principal::name)
            .orElse(null);
    Record<ReqT, RespT> record = new Record<>(call, principal);
    ServerCall.Listener<ReqT> listener = next.startCall(record.call, headers);
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onMessage(ReqT message) {
        if (record.domain == null) {
          record.domain = domainOf(message);
        }
        super.onMessage(message);
      }

      @Override
      public void onCancel() {
        record.done(Status.CANCELLED.withDescription("cancelled by the client"));
        super.onCancel();
      }
    };
  }

  /** The domain a request or response names, found by field name; null if none. */
  static String domainOf(Object message) {
    return message instanceof MessageOrBuilder m ? find(m, 0) : null;
  }

  private static String find(MessageOrBuilder m, int depth) {
    Descriptor type = m.getDescriptorForType();
    for (String name : DOMAIN_FIELDS) {
      FieldDescriptor f = type.findFieldByName(name);
      if (f != null && !f.isRepeated() && f.getJavaType() == FieldDescriptor.JavaType.STRING) {
        String value = (String) m.getField(f);
        if (!value.isEmpty()) {
          return value;
        }
      }
    }
    if (depth == MAX_DEPTH) {
      return null;
    }
    // A field named domain first (a Domain message's name), then any other set message field.
    FieldDescriptor domain = type.findFieldByName("domain");
    if (domain != null && isSetMessage(m, domain)) {
      String found = find((MessageOrBuilder) m.getField(domain), depth + 1);
      if (found != null) {
        return found;
      }
    }
    for (FieldDescriptor f : type.getFields()) {
      if (f != domain && isSetMessage(m, f)
          && !f.getMessageType().getFullName().startsWith("google.protobuf.")) {
        String found = find((MessageOrBuilder) m.getField(f), depth + 1);
        if (found != null) {
          return found;
        }
      }
    }
    return null;
  }

  private static boolean isSetMessage(MessageOrBuilder m, FieldDescriptor f) {
    return !f.isRepeated() && f.getJavaType() == FieldDescriptor.JavaType.MESSAGE
        && m.hasField(f);
  }

  /** The pieces of one call's record, gathered as the call runs. */
  private final class Record<ReqT, RespT> {
    final long startNanos = System.nanoTime();
    final String principal;
    final String rpc;
    final String peer;
    final AtomicBoolean recorded = new AtomicBoolean();
    /** Written on the call's listener thread, read when the call ends. */
    volatile String domain;
    final ServerCall<ReqT, RespT> call;

    Record(ServerCall<ReqT, RespT> call, String principal) {
      this.principal = principal;
      this.rpc = call.getMethodDescriptor().getFullMethodName();
      this.peer = peer(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
      this.call = new SimpleForwardingServerCall<>(call) {
        private boolean first = true;

        @Override
        public void sendMessage(RespT message) {
          if (first) {
            first = false;
            if (domain == null) {
              domain = domainOf(message);
            }
          }
          super.sendMessage(message);
        }

        @Override
        public void close(Status status, Metadata trailers) {
          done(status);
          super.close(status, trailers);
        }
      };
    }

    void done(Status status) {
      if (!recorded.compareAndSet(false, true)) {
        return;
      }
      audit.record(new AuditLog.Entry(clock.instant(), principal, rpc, domain,
          status.getCode().name(), status.isOk() ? null : status.getDescription(), peer,
          (System.nanoTime() - startNanos) / 1_000_000));
    }
  }

  private static String peer(SocketAddress address) {
    if (address instanceof InetSocketAddress inet) {
      return inet.getAddress() == null ? inet.getHostString() + ":" + inet.getPort()
          : inet.getAddress().getHostAddress() + ":" + inet.getPort();
    }
    return address == null ? null : address.toString();
  }
}
