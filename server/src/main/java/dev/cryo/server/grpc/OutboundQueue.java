package dev.cryo.server.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;
import java.util.function.ToIntFunction;

/**
 * Sends messages on a server stream only while the transport is ready (manual flow control), and
 * buffers what a slow client has not taken yet, up to a byte limit. Producers that must never
 * block (the console reader, the event bus) offer into it; past the limit the call ends with
 * RESOURCE_EXHAUSTED rather than holding unbounded memory.
 */
final class OutboundQueue<T> {
  private final ServerCallStreamObserver<T> observer;
  private final ToIntFunction<T> sizer;
  private final long limitBytes;
  private final String what;
  /** Guarded by {@code this}. */
  private final ArrayDeque<T> queue = new ArrayDeque<>();
  private long queuedBytes;
  private boolean done;

  OutboundQueue(ServerCallStreamObserver<T> observer, ToIntFunction<T> sizer, long limitBytes,
      String what) {
    this.observer = observer;
    this.sizer = sizer;
    this.limitBytes = limitBytes;
    this.what = what;
    observer.setOnReadyHandler(this::drain);
  }

  /** Queues {@code message} and sends what the transport can take. */
  void offer(T message) {
    synchronized (this) {
      if (done) {
        return;
      }
      queue.add(message);
      queuedBytes += sizer.applyAsInt(message);
      if (queuedBytes > limitBytes) {
        done = true;
        queue.clear();
        observer.onError(Status.RESOURCE_EXHAUSTED
            .withDescription("the client reads " + what + " too slowly; more than " + limitBytes
                + " bytes were waiting")
            .asRuntimeException());
        return;
      }
    }
    drain();
  }

  /** Sends queued messages while the transport is ready. */
  synchronized void drain() {
    while (!done && observer.isReady() && !queue.isEmpty()) {
      T next = queue.poll();
      queuedBytes -= sizer.applyAsInt(next);
      observer.onNext(next);
    }
  }

  /** Ends the stream with an error, dropping what is queued. */
  synchronized void fail(Throwable t) {
    if (!done) {
      done = true;
      queue.clear();
      observer.onError(StatusMapping.toException(t));
    }
  }

  /** Marks the stream as cancelled by the client: nothing more is sent. */
  synchronized void cancelled() {
    done = true;
    queue.clear();
  }
}
