package dev.cryo.server.grpc;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.error.Reason;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * The principal of a call, as the edge attaches it to the call's gRPC {@link Context}. Only the
 * gRPC layer knows this key: an adapter reads it once, on the gRPC thread, when the call starts,
 * and passes the principal to the core explicitly. The core never looks it up, since work handed
 * to an executor does not carry the gRPC context.
 */
final class CallPrincipal {
  /** Set by {@link AuthInterceptor}, or by {@link #localInterceptor} when auth is off. */
  static final Context.Key<Principal> KEY = Context.key("cryo-principal");

  private CallPrincipal() {}

  /**
   * The principal of the call being started on this thread.
   *
   * @throws PermissionDeniedException if none was attached: a call whose caller is unknown is
   *     refused, never served as an administrator
   */
  static Principal require() {
    Principal p = KEY.get();
    if (p == null) {
      throw new CryoException(
          Reason.CALLER_UNKNOWN,
          "the server could not tell who is calling; "
              + "the call was refused (no principal was attached at the edge)");
    }
    return p;
  }

  /**
   * Attaches {@link Principal#LOCAL} to every call: the one place where "authentication is off"
   * becomes "the caller is the local administrator". Only for servers without an access file,
   * which listen on loopback or a Unix socket alone.
   */
  static ServerInterceptor localInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call,
          Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        return Contexts.interceptCall(Context.current().withValue(KEY, Principal.LOCAL), call,
            headers, next);
      }
    };
  }
}
