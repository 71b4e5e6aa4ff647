package dev.cryo.server.grpc;

import dev.cryo.server.error.CancelledException;
import io.grpc.stub.ServerCallStreamObserver;

/**
 * Sends a server stream's messages from a producer thread the server owns, only while the
 * transport is ready: {@link #send} waits (on the producer's thread, never on a gRPC thread)
 * until the client has taken what was sent before. All {@code onNext}/{@code onError} calls go
 * through here.
 */
final class FlowControlledSender<T> {
  private final ServerCallStreamObserver<T> call;
  /** Guarded by {@code this}. */
  private boolean cancelled;

  FlowControlledSender(ServerCallStreamObserver<T> call) {
    this.call = call;
    call.setOnReadyHandler(this::wake);
  }

  private synchronized void wake() {
    notifyAll();
  }

  /** Marks the call cancelled: waiting senders give up. */
  synchronized void cancelled() {
    cancelled = true;
    notifyAll();
  }

  /** Sends {@code message} once the transport is ready. */
  synchronized void send(T message) {
    while (!call.isReady()) {
      if (cancelled) {
        throw new CancelledException("cancelled by the client");
      }
      try {
        wait(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancelledException("interrupted while sending", e);
      }
    }
    if (cancelled) {
      throw new CancelledException("cancelled by the client");
    }
    call.onNext(message);
  }

  /** Sends {@code message} if the transport is ready now; drops it otherwise (progress). */
  synchronized void offer(T message) {
    if (!cancelled && call.isReady()) {
      call.onNext(message);
    }
  }

  synchronized void complete() {
    if (!cancelled) {
      call.onCompleted();
    }
  }

  synchronized void fail(Throwable t) {
    if (!cancelled) {
      call.onError(StatusMapping.toException(t));
    }
  }
}
