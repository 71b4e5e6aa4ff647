package dev.cryo.server.grpc;

import dev.cryo.server.auth.AccessFile;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.ReloadingAccessFile;
import dev.cryo.server.auth.Role;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Authenticates every call and enforces roles, in front of every service. A caller is known by
 * its TLS client certificate or by a bearer token ({@code authorization: Bearer TOKEN}), both
 * looked up in the {@link AccessFile}. No or unknown credentials: UNAUTHENTICATED. Known, but a
 * read-only principal calling anything other than a Get, List or Watch method: PERMISSION_DENIED.
 * The health service stays open, so load balancers can probe. The principal goes on the call's
 * context under {@link CallPrincipal#KEY}; the adapters hand it to the core, which enforces
 * per-domain restriction.
 */
final class AuthInterceptor implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(AuthInterceptor.class);

  /** Read at each call, so a reload of the file applies from the next call on. */
  private final ReloadingAccessFile access;

  AuthInterceptor(ReloadingAccessFile access) {
    this.access = access;
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    if (method.startsWith("grpc.health.v1.Health/")) {
      return next.startCall(call, headers);
    }
    Optional<Principal> principal = Credential.of(call, headers).resolve(access.current());
    if (principal.isEmpty()) {
      close(
          call,
          StatusMapping.toException(
              Reason.UNAUTHENTICATED,
              "no valid credentials: send 'authorization: Bearer TOKEN' with a token from the"
                  + " server's access file, or a client certificate it lists"));
      return new ServerCall.Listener<>() {};
    }
    Principal p = principal.get();
    if (p.role() == Role.READ_ONLY && !isReadOnly(call.getMethodDescriptor().getBareMethodName())) {
      log.info("denied {} to read-only principal {}", method, p.name());
      close(
          call,
          StatusMapping.toException(
              new CryoException(
                      Reason.ROLE_DENIED,
                      "principal '"
                          + p.name()
                          + "' is read-only and "
                          + call.getMethodDescriptor().getBareMethodName()
                          + " changes or reads guest state; use an admin credential")
                  .with("principal", p.name())));
      return new ServerCall.Listener<>() {};
    }
    Context context = Context.current().withValue(CallPrincipal.KEY, p);
    return Contexts.interceptCall(context, call, headers, next);
  }

  /** Get, List and Watch methods only look; everything else acts on guests. */
  static boolean isReadOnly(String bareMethod) {
    return bareMethod == null || bareMethod.startsWith("Get") || bareMethod.startsWith("List")
        || bareMethod.startsWith("Watch") || bareMethod.equals("ServerReflectionInfo");
  }

  private static void close(ServerCall<?, ?> call, StatusRuntimeException refusal) {
    call.close(refusal.getStatus(), refusal.getTrailers());
  }
}
