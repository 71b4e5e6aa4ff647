package dev.cryo.server.auth;

import io.grpc.Context;

/**
 * The principal of the call being served. The authentication interceptor attaches it to the
 * gRPC {@link Context}, which travels with the call onto whatever thread serves it; core code
 * asks {@link #current()} without knowing about gRPC.
 */
public final class Caller {
  /** Set by the authentication interceptor; unset means authentication is off. */
  public static final Context.Key<Principal> KEY = Context.key("cryo-principal");

  private Caller() {}

  /** The caller of the current call, or {@link Principal#LOCAL} when authentication is off. */
  public static Principal current() {
    Principal p = KEY.get();
    return p == null ? Principal.LOCAL : p;
  }
}
