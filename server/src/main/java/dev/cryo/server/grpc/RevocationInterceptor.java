package dev.cryo.server.grpc;

import dev.cryo.server.auth.AccessFile;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.ReloadingAccessFile;
import dev.cryo.server.auth.Role;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends the running streams of a principal that a reload of the access file removed or narrowed,
 * so that revoking a token also closes the console and the event watch it holds open.
 *
 * <p>The rule: a streaming call (console, event watch, image and backup streams: they can last
 * hours) is checked against each new access file as it comes into force; if its credential no
 * longer names the same principal, or that principal may no longer make this call on every
 * domain it could before, the call is ended as if its client had cancelled it (the service's
 * cancel handler stops the QEMU-side work and cleans up, as after a disconnect) and the client
 * gets UNAUTHENTICATED (principal gone) or PERMISSION_DENIED (rights narrowed). A unary call
 * that is already running finishes with the rights it started with, as libvirt lets running
 * calls finish: it is short, and stopping a start or a revert half-way would leave more to clean
 * up than letting it end. Its next call is refused.
 *
 * <p>Each tracked call's outgoing operations and listener callbacks are serialized by two locks
 * of its own, so the reload thread can close the call and deliver {@code onCancel} without
 * racing grpc-java's threads or the service's.
 */
final class RevocationInterceptor implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(RevocationInterceptor.class);

  private final ReloadingAccessFile access;
  private final Set<Tracked<?, ?>> running = ConcurrentHashMap.newKeySet();

  RevocationInterceptor(ReloadingAccessFile access) {
    this.access = access;
    access.onChange(this::recheck);
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (call.getMethodDescriptor().getType() == MethodType.UNARY) {
      return next.startCall(call, headers);
    }
    Credential credential = Credential.of(call, headers);
    Optional<Principal> principal = credential.resolve(access.current());
    if (principal.isEmpty()) {
      return next.startCall(call, headers); // The authentication interceptor refuses it.
    }
    Tracked<ReqT, RespT> tracked = new Tracked<>(call, credential, principal.get());
    running.add(tracked);
    try {
      tracked.listener = Contexts.interceptCall(tracked.context, tracked.guardedCall, headers,
          next);
    } catch (RuntimeException e) {
      tracked.ended();
      throw e;
    }
    return tracked.guardedListener;
  }

  /** Number of streaming calls being tracked; for tests. */
  int tracked() {
    return running.size();
  }

  private void recheck(AccessFile now) {
    for (Tracked<?, ?> t : running) {
      String bare = t.call.getMethodDescriptor().getBareMethodName();
      Optional<Principal> after = t.credential.resolve(now);
      String lost = after.map(p -> lostRight(t.principal, p, bare)).orElse(null);
      if (after.isEmpty() || !after.get().name().equals(t.principal.name())) {
        log.info("ending {} of principal '{}': its {} was removed from the access file",
            t.call.getMethodDescriptor().getFullMethodName(), t.principal.name(), t.credential);
        t.revoke(
            StatusMapping.toException(
                new CryoException(
                        Reason.CREDENTIALS_REVOKED,
                        "the credential of principal '"
                            + t.principal.name()
                            + "' was revoked by a reload of the server's access file")
                    .with("principal", t.principal.name())));
      } else if (lost != null) {
        log.info("ending {} of principal '{}': it {}",
            t.call.getMethodDescriptor().getFullMethodName(), t.principal.name(), lost);
        t.revoke(
            StatusMapping.toException(
                new CryoException(
                        Reason.ROLE_DENIED,
                        "principal '"
                            + t.principal.name()
                            + "' "
                            + lost
                            + " since a reload of the server's access file; "
                            + "call again")
                    .with("principal", t.principal.name())));
      }
    }
  }

  /**
   * What {@code after} may no longer do that {@code before} could, for a call of {@code
   * bareMethod}, or null if nothing.
   */
  static String lostRight(Principal before, Principal after, String bareMethod) {
    if (after.role() == Role.READ_ONLY && before.role() != Role.READ_ONLY
        && !AuthInterceptor.isReadOnly(bareMethod)) {
      return "is read-only";
    }
    boolean narrowed = !after.domains().isEmpty()
        && (before.domains().isEmpty() || !after.domains().containsAll(before.domains()));
    return narrowed ? "sees fewer domains" : null;
  }

  /** One running streaming call. */
  private final class Tracked<ReqT, RespT> {
    final ServerCall<ReqT, RespT> call;
    final Credential credential;
    final Principal principal;
    final Context.CancellableContext context = Context.current().withCancellation();
    private final Object callLock = new Object();
    /** Guarded by callLock. */
    private boolean closed;
    private volatile boolean revoked;
    private final Object listenerLock = new Object();
    /** Guarded by listenerLock: no more callbacks go to the service. */
    private boolean listenerDone;
    /** The service's listener; set once before the call is returned to grpc-java. */
    ServerCall.Listener<ReqT> listener;

    final ServerCall<ReqT, RespT> guardedCall;

    Tracked(ServerCall<ReqT, RespT> call, Credential credential, Principal principal) {
      this.call = call;
      this.credential = credential;
      this.principal = principal;
      this.guardedCall = guard(call);
    }

    private ServerCall<ReqT, RespT> guard(ServerCall<ReqT, RespT> call) {
      return new SimpleForwardingServerCall<>(call) {
        @Override
        public void request(int numMessages) {
          synchronized (callLock) {
            if (!closed) {
              super.request(numMessages);
            }
          }
        }

        @Override
        public void sendHeaders(Metadata headers) {
          synchronized (callLock) {
            if (!closed) {
              super.sendHeaders(headers);
            }
          }
        }

        @Override
        public void sendMessage(RespT message) {
          // After a revocation the service may still be sending until its cancel handler runs;
          // those messages are dropped, as after a client's cancel.
          synchronized (callLock) {
            if (!closed) {
              super.sendMessage(message);
            }
          }
        }

        @Override
        public void close(Status status, Metadata trailers) {
          synchronized (callLock) {
            if (closed) {
              return;
            }
            closed = true;
            super.close(status, trailers);
          }
        }

        @Override
        public boolean isReady() {
          synchronized (callLock) {
            return !closed && super.isReady();
          }
        }

        @Override
        public boolean isCancelled() {
          return revoked || super.isCancelled();
        }
      };
    }

    final ServerCall.Listener<ReqT> guardedListener = new ServerCall.Listener<>() {
      @Override
      public void onMessage(ReqT message) {
        synchronized (listenerLock) {
          if (!listenerDone) {
            listener.onMessage(message);
          }
        }
      }

      @Override
      public void onHalfClose() {
        synchronized (listenerLock) {
          if (!listenerDone) {
            listener.onHalfClose();
          }
        }
      }

      @Override
      public void onReady() {
        synchronized (listenerLock) {
          if (!listenerDone) {
            listener.onReady();
          }
        }
      }

      @Override
      public void onComplete() {
        finish(false);
      }

      @Override
      public void onCancel() {
        finish(true);
      }
    };

    private void finish(boolean cancelled) {
      try {
        synchronized (listenerLock) {
          if (listenerDone) {
            return;
          }
          listenerDone = true;
          // grpc-java reports the end of a call the server closed as a completion, and it may
          // do so before revoke() gets here: a revoked call is a cancel to the service.
          if (cancelled || revoked) {
            listener.onCancel();
          } else {
            listener.onComplete();
          }
        }
      } finally {
        ended();
      }
    }

    void ended() {
      running.remove(this);
      context.cancel(null);
    }

    /** Closes the call with {@code status} and tells the service it was cancelled. */
    void revoke(StatusRuntimeException refusal) {
      Status status = refusal.getStatus();
      synchronized (callLock) {
        if (closed) {
          return; // Ending anyway.
        }
        closed = true;
        revoked = true;
        call.close(status, refusal.getTrailers());
      }
      // Context listeners (abort signals) first, then the service's cancel handler.
      context.cancel(status.asRuntimeException());
      finish(true);
    }
  }
}
