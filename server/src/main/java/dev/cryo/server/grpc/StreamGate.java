package dev.cryo.server.grpc;

import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way a Cryo call streams: every {@code onNext}, {@code request}, end and cancel of a
 * streaming call goes through its gate, which applies manual flow control and the server's
 * {@link StreamLimits} the same way for saves, backups, restores, event watches and consoles.
 *
 * <p><b>Sending.</b> Nothing is handed to gRPC unless the transport {@code isReady()}. A producer
 * on a thread the server owns (a save, a backup) calls {@link #send}, which waits there until the
 * transport is ready; gRPC's onReady handler only wakes it, never blocks. A producer that must
 * never wait (the event bus, the serial console, a final summary) calls {@link #offer}: the
 * message waits in the gate's queue, sent by the onReady handler. The transport holds at most
 * {@code bufferBytes / 2} unsent (its on-ready threshold), the queue the other half (beyond one
 * message); a queue that would hold more ends the call with RESOURCE_EXHAUSTED.
 *
 * <p><b>Receiving.</b> A client stream reads with {@code disableAutoRequest()}: the service asks
 * for messages with {@link #request} as it can take them.
 *
 * <p><b>Stalls.</b> The stall clock runs while the server waits on the client: a message waits
 * for the transport, or the service said it is {@link #awaitingClient awaiting} the client's next
 * message. It restarts whenever a message moves. A call that waits for {@link
 * StreamLimits#stallTimeout} is abandoned with DEADLINE_EXCEEDED: a limit of the server ran out
 * before the client did its part (not CANCELLED, which says the client gave up, nor UNAVAILABLE,
 * which invites the same call again at once, to stall again). The message names the limit. As
 * after a client's cancel, the {@link #onStop} actions then stop the work behind the call (the
 * save, the restore, the backup, the subscription) and a waiting producer gets the same error.
 * The client sees the status after the messages the transport still holds for it.
 */
final class StreamGate<T> {
  private static final Logger log = LoggerFactory.getLogger(StreamGate.class);

  /**
   * Bytes of image or extent data per message: large enough to amortise framing, far below the
   * 4 MiB message limit, and below the size at which G1 allocates an array as a humongous object
   * in a small heap (measured: 1 MiB chunks cost 177 concurrent GC cycles per save).
   */
  static final int CHUNK_BYTES = 256 << 10;

  private final ServerCallStreamObserver<T> call;
  private final StreamLimits limits;
  private final ScheduledExecutorService timer;
  private final ToIntFunction<T> sizer;
  /** What the call does, for messages: "the save of 'vm1'". */
  private final String what;
  private final long queueLimit;

  /** Messages offered that the transport has not taken yet. Guarded by {@code this}. */
  private final ArrayDeque<T> queue = new ArrayDeque<>();
  private long queuedBytes;
  /** Producers waiting in {@link #send}. */
  private int blockedSenders;
  private boolean awaitingClient;
  /** When the server began to wait on the client, or last saw a message move since. */
  private long waitingSince;
  private ScheduledFuture<?> stallCheck;
  private boolean completeWhenDrained;
  /** Set once the call ended, however: nothing more is sent. */
  private boolean ended;
  /** Why the call stopped before completing; null while running or after completing. */
  private CryoException stopCause;
  private final List<Consumer<CryoException>> onStop = new ArrayList<>();

  private StreamGate(ServerCallStreamObserver<T> call, StreamLimits limits,
      ScheduledExecutorService timer, ToIntFunction<T> sizer, String what) {
    this.call = call;
    this.limits = limits;
    this.timer = timer;
    this.sizer = sizer;
    this.what = what;
    long transport = Math.min(Integer.MAX_VALUE, limits.bufferBytes() / 2);
    this.queueLimit = limits.bufferBytes() - transport;
    call.setOnReadyThreshold((int) transport);
    call.setOnReadyHandler(this::drain);
    call.setOnCancelHandler(() -> stop(new CancelledException("cancelled by the client"), false));
  }

  /**
   * The gate of a call whose client sends one request (SaveDomain, StreamBackup,
   * WatchDomainEvents). Call it from the service method, before it returns.
   */
  static <T> StreamGate<T> serverStream(ServerCallStreamObserver<T> call, StreamLimits limits,
      ScheduledExecutorService timer, ToIntFunction<T> sizer, String what) {
    return new StreamGate<>(call, limits, timer, sizer, what);
  }

  /**
   * The gate of a call whose client streams (RestoreDomain, OpenConsole): inbound flow control
   * is manual, the first message is asked for and awaited (a client that opens the call and sends
   * nothing is abandoned after the stall limit). Call it before the service method returns.
   */
  static <T> StreamGate<T> clientStream(ServerCallStreamObserver<T> call, StreamLimits limits,
      ScheduledExecutorService timer, ToIntFunction<T> sizer, String what) {
    call.disableAutoRequest();
    StreamGate<T> gate = new StreamGate<>(call, limits, timer, sizer, what);
    gate.awaitingClient(true);
    gate.request(1);
    return gate;
  }

  // ---- ends -----------------------------------------------------------------------------------

  /**
   * Runs {@code action} with the reason once if the call stops before it completes: the client
   * cancelled, a limit abandoned it, or it failed. At once if it already has. It must not block
   * for long: it runs on gRPC's or the stall timer's thread.
   */
  void onStop(Consumer<CryoException> action) {
    CryoException cause;
    synchronized (this) {
      cause = stopCause;
      if (cause == null) {
        onStop.add(action);
        return;
      }
    }
    run(action, cause);
  }

  /** Whether the call has ended (completed, cancelled, abandoned or failed). */
  synchronized boolean ended() {
    return ended;
  }

  /** Ends the call with OK once the queued messages are sent. */
  void complete() {
    synchronized (this) {
      if (ended) {
        return;
      }
      completeWhenDrained = true;
    }
    drain();
  }

  /** Ends the call with {@code failure}'s status (unless it has ended already) and stops it. */
  void fail(Throwable failure) {
    CryoException cause = failure instanceof CryoException c ? c
        : new CancelledException("the call failed", failure);
    stop(cause, true, failure);
  }

  private void stop(CryoException cause, boolean tellClient) {
    stop(cause, tellClient, cause);
  }

  private void stop(CryoException cause, boolean tellClient, Throwable status) {
    List<Consumer<CryoException>> actions;
    synchronized (this) {
      if (ended) {
        return;
      }
      ended = true;
      stopCause = cause;
      queue.clear();
      queuedBytes = 0;
      cancelStallCheck();
      if (tellClient && !call.isCancelled()) {
        call.onError(StatusMapping.toException(status));
      }
      notifyAll();
      actions = List.copyOf(onStop);
      onStop.clear();
    }
    actions.forEach(a -> run(a, cause));
  }

  private static void run(Consumer<CryoException> action, CryoException cause) {
    try {
      action.accept(cause);
    } catch (RuntimeException e) {
      log.warn("stopping the work behind a stream failed", e);
    }
  }

  // ---- sending --------------------------------------------------------------------------------

  /**
   * Sends {@code message} once the transport is ready, waiting for it on the calling thread,
   * which must be one the server owns (never a gRPC thread).
   *
   * @throws CryoException why the call stopped (CANCELLED for the client's cancel,
   *     DEADLINE_EXCEEDED for a stall, ...) if it stopped before or while waiting
   */
  void send(T message) {
    synchronized (this) {
      boolean before = waiting();
      blockedSenders++;
      try {
        while (!ended && !(queue.isEmpty() && call.isReady())) {
          clockFrom(before);
          before = true;
          wait();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancelledException("interrupted while sending " + what, e);
      } finally {
        blockedSenders--;
      }
      if (ended) {
        throw stopCause != null ? stopCause
            : new CancelledException(what + " has already ended");
      }
      handOver(message);
    }
  }

  /**
   * Queues {@code message} and sends what the transport can take; never waits. Past the buffer
   * limit the call is abandoned with RESOURCE_EXHAUSTED. Dropped if the call has ended.
   */
  void offer(T message) {
    int size = sizer.applyAsInt(message);
    synchronized (this) {
      if (ended) {
        return;
      }
      if (!queue.isEmpty() && queuedBytes + size > queueLimit) {
        // Below: a client that reads slower than the server produces must not grow its memory.
      } else {
        boolean before = waiting();
        queue.add(message);
        queuedBytes += size;
        clockFrom(before);
        message = null;
      }
    }
    if (message != null) {
      log.info("abandoning {}: more than {} bytes waited for its client", what,
          limits.bufferBytes());
      stop(
          new CryoException(
              Reason.STREAM_BUFFER_FULL,
              "the client reads "
                  + what
                  + " too slowly: more "
                  + "than "
                  + limits.bufferBytes()
                  + " bytes waited for it (the server's "
                  + "--stream-buffer-bytes); "
                  + what
                  + " was abandoned"),
          true);
      return;
    }
    drain();
  }

  /** Sends {@code message} if the transport can take it now; drops it otherwise (progress). */
  synchronized void offerIfReady(T message) {
    if (!ended && queue.isEmpty() && call.isReady()) {
      handOver(message);
    }
  }

  /** The onReady handler: sends what is queued while the transport takes it; never waits. */
  private synchronized void drain() {
    while (!ended && !queue.isEmpty() && call.isReady()) {
      T next = queue.poll();
      queuedBytes -= sizer.applyAsInt(next);
      handOver(next);
    }
    if (!ended && queue.isEmpty() && completeWhenDrained) {
      ended = true;
      cancelStallCheck();
      if (!call.isCancelled()) {
        call.onCompleted();
      }
    }
    notifyAll();
  }

  /** Guarded by {@code this}. */
  private void handOver(T message) {
    call.onNext(message);
    waitingSince = System.nanoTime();
  }

  // ---- receiving ------------------------------------------------------------------------------

  /** Asks gRPC for {@code n} more client messages. */
  synchronized void request(int n) {
    if (!ended) {
      call.request(n);
    }
  }

  /**
   * Says whether the service now waits for the client's next message (a restore for its next
   * chunk); the stall clock runs while it does.
   */
  synchronized void awaitingClient(boolean waiting) {
    boolean before = waiting();
    awaitingClient = waiting;
    if (!waiting) {
      waitingSince = System.nanoTime(); // A message came: progress.
    }
    clockFrom(before);
  }

  // ---- the stall clock ------------------------------------------------------------------------

  /** Whether the server waits on the client now. Guarded by {@code this}. */
  private boolean waiting() {
    return !ended && (awaitingClient || blockedSenders > 0 || !queue.isEmpty());
  }

  /**
   * Starts the clock if the server waits on the client now and did not {@code before}; the
   * check is scheduled at most once at a time. Guarded by {@code this}.
   */
  private void clockFrom(boolean before) {
    if (before || !waiting()) {
      return;
    }
    waitingSince = System.nanoTime();
    if (stallCheck == null) {
      stallCheck = timer.schedule(this::checkStall, limits.stallTimeout().toNanos(),
          TimeUnit.NANOSECONDS);
    }
  }

  private void cancelStallCheck() {
    if (stallCheck != null) {
      stallCheck.cancel(false);
      stallCheck = null;
    }
  }

  /** Runs on the timer: abandons the call if it has waited on the client for the limit. */
  private void checkStall() {
    boolean inbound;
    synchronized (this) {
      stallCheck = null;
      if (!waiting()) {
        return;
      }
      long left = limits.stallTimeout().toNanos() - (System.nanoTime() - waitingSince);
      if (left > 0) {
        stallCheck = timer.schedule(this::checkStall, left, TimeUnit.NANOSECONDS);
        return;
      }
      inbound = awaitingClient && blockedSenders == 0 && queue.isEmpty();
    }
    Duration stall = limits.stallTimeout();
    String seconds = stall.toMillis() % 1000 == 0 ? stall.toSeconds() + " s"
        : stall.toMillis() + " ms";
    log.info("abandoning {}: the client {} for {}", what, inbound ? "sent nothing" : "read nothing",
        seconds);
    stop(
        new CryoException(
            Reason.STREAM_STALLED,
            "the client "
                + (inbound ? "sent" : "read")
                + " nothing for "
                + seconds
                + " (the server's --stream-stall-seconds); "
                + what
                + " was abandoned"),
        true);
  }
}
