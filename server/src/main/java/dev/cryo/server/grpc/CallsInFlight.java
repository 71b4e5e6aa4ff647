package dev.cryo.server.grpc;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts the calls in flight by method, so a stopping server can say what it waits for and what
 * it cancels. Installed server-wide ({@code ServerBuilder.intercept}), outside every other
 * interceptor, so refused calls are counted too until they end.
 */
public final class CallsInFlight implements ServerInterceptor {
  /** Guarded by its own atomics; entries stay once created (one per method ever called). */
  private final Map<String, AtomicInteger> byMethod = new ConcurrentHashMap<>();

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    AtomicInteger count = byMethod.computeIfAbsent(
        call.getMethodDescriptor().getFullMethodName(), m -> new AtomicInteger());
    count.incrementAndGet();
    AtomicBoolean ended = new AtomicBoolean();
    Runnable end = () -> {
      if (ended.compareAndSet(false, true)) {
        count.decrementAndGet();
      }
    };
    ServerCall.Listener<Q> listener;
    try {
      listener = next.startCall(call, headers);
    } catch (RuntimeException e) {
      end.run();
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onComplete() {
        end.run();
        super.onComplete();
      }

      @Override
      public void onCancel() {
        end.run();
        super.onCancel();
      }
    };
  }

  /** The methods with calls in flight now and how many each, by name. */
  public Map<String, Integer> now() {
    Map<String, Integer> now = new TreeMap<>();
    byMethod.forEach((method, count) -> {
      int n = count.get();
      if (n > 0) {
        now.put(method.substring(method.lastIndexOf('.') + 1), n);
      }
    });
    return now;
  }
}
