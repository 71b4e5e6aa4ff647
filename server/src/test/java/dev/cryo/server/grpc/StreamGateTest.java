package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class StreamGateTest {
  static final Duration STALL = Duration.ofMillis(300);

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final RecordingServerCall<String> call = new RecordingServerCall<>();
  /** Completes with the reason the gate gave its stop actions. */
  private final CompletableFuture<CryoException> stopped = new CompletableFuture<>();

  @AfterEach
  void stopTimer() {
    timer.shutdownNow();
  }

  private StreamGate<String> serverStream(long bufferBytes) {
    StreamGate<String> gate = StreamGate.serverStream(call,
        new StreamLimits(STALL, bufferBytes, 1 << 20), timer, String::length, "the test stream");
    gate.onStop(stopped::complete);
    return gate;
  }

  private static CompletableFuture<Void> sendOnAnotherThread(StreamGate<String> gate, String m) {
    return CompletableFuture.runAsync(() -> gate.send(m));
  }

  @Test
  void send_waitsForTheTransportThenSends() throws Exception {
    StreamGate<String> gate = serverStream(8192);
    assertThat(call.onReadyThreshold).as("half the buffer in the transport").isEqualTo(4096);
    call.ready(false);
    CompletableFuture<Void> sending = sendOnAnotherThread(gate, "chunk");
    assertThat(call.sent()).isEmpty();
    call.ready(true);
    sending.get(5, TimeUnit.SECONDS);
    assertThat(call.sent()).containsExactly("chunk");
    gate.complete();
    assertThat(call.status()).isEqualTo(Status.OK);
    assertThat(stopped).as("a completed call runs no stop action").isNotDone();
  }

  @Test
  void send_clientStopsReading_isAbandonedAfterTheStallLimit() throws Exception {
    StreamGate<String> gate = serverStream(8192);
    call.ready(false);
    long start = System.nanoTime();
    CompletableFuture<Void> sending = sendOnAnotherThread(gate, "chunk");

    assertThatThrownBy(() -> sending.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .hasFieldOrPropertyWithValue("reason", Reason.STREAM_STALLED);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(STALL);
    assertThat(call.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(call.status().getDescription())
        .contains("read nothing", "--stream-stall-seconds", "the test stream was abandoned");
    assertThat(stopped.get(5, TimeUnit.SECONDS))
        .hasFieldOrPropertyWithValue("reason", Reason.STREAM_STALLED);
    assertThat(call.sent()).isEmpty();
    assertThatThrownBy(() -> gate.send("later"))
        .hasFieldOrPropertyWithValue("reason", Reason.STREAM_STALLED);
  }

  @Test
  void offer_queuesWhileNotReady_andCompletesAfterTheQueueDrains() throws Exception {
    StreamGate<String> gate = serverStream(1 << 20);
    call.ready(false);
    gate.offer("a");
    gate.offer("b");
    gate.offerIfReady("progress, dropped");
    gate.complete();
    assertThat(call.sent()).isEmpty();
    assertThat(call.status()).isNull();
    call.ready(true);
    assertThat(call.sent()).containsExactly("a", "b");
    assertThat(call.status()).isEqualTo(Status.OK);
    assertThat(stopped).isNotDone();
  }

  @Test
  void offer_pastTheBufferLimit_isResourceExhaustedAndStops() throws Exception {
    StreamGate<String> gate = serverStream(4096); // 2048 bytes in the queue
    call.ready(false);
    gate.offer("x".repeat(1000));
    gate.offer("y".repeat(1000));
    assertThat(call.status()).isNull();
    gate.offer("z".repeat(1000));

    assertThat(call.status().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(call.status().getDescription()).contains("4096", "--stream-buffer-bytes");
    assertThat(stopped.get(5, TimeUnit.SECONDS)).isNotNull();
    gate.offer("after");
    call.ready(true);
    assertThat(call.sent()).as("nothing queued survives the end").isEmpty();
  }

  @Test
  void offer_clientStopsReading_isDroppedAfterTheStallLimitWithoutMoreMessages()
      throws Exception {
    StreamGate<String> gate = serverStream(1 << 20);
    call.ready(false);
    gate.offer("event");
    assertThat(stopped.get(10, TimeUnit.SECONDS))
        .hasFieldOrPropertyWithValue("reason", Reason.STREAM_STALLED);
    assertThat(call.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
  }

  @Test
  void clientCancel_wakesTheSenderAndRunsTheStopActions() throws Exception {
    StreamGate<String> gate = serverStream(8192);
    call.ready(false);
    CompletableFuture<Void> sending = sendOnAnotherThread(gate, "chunk");
    call.clientCancels();
    assertThatThrownBy(() -> sending.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(CancelledException.class);
    assertThat(stopped.get(5, TimeUnit.SECONDS)).isInstanceOf(CancelledException.class);
    assertThat(call.status()).as("nothing is sent to a client that left").isNull();
    CompletableFuture<CryoException> late = new CompletableFuture<>();
    gate.onStop(late::complete);
    assertThat(late).as("a stop action added later runs at once").isDone();
  }

  @Test
  void clientStream_clientSendsNothing_isAbandonedAfterTheStallLimit() throws Exception {
    StreamGate<String> gate = StreamGate.clientStream(call,
        new StreamLimits(STALL, 8192, 1 << 20), timer, String::length, "the test restore");
    gate.onStop(stopped::complete);
    assertThat(call.autoRequest).isFalse();
    assertThat(call.requested).isEqualTo(1);
    assertThat(stopped.get(10, TimeUnit.SECONDS))
        .hasFieldOrPropertyWithValue("reason", Reason.STREAM_STALLED);
    assertThat(call.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(call.status().getDescription()).contains("sent nothing");
  }

  @Test
  void clientStream_messageArrived_stopsTheClock() throws Exception {
    StreamGate<String> gate = StreamGate.clientStream(call,
        new StreamLimits(STALL, 8192, 1 << 20), timer, String::length, "the test console");
    gate.onStop(stopped::complete);
    gate.awaitingClient(false);
    // The check was scheduled for the first message: once due, it must find nothing to do.
    CompletableFuture<Void> pastDue = new CompletableFuture<>();
    timer.schedule(() -> pastDue.complete(null), STALL.toMillis() * 2, TimeUnit.MILLISECONDS);
    pastDue.get(10, TimeUnit.SECONDS);
    timer.submit(() -> { }).get(10, TimeUnit.SECONDS);
    assertThat(stopped).isNotDone();
    assertThat(call.status()).isNull();
  }
}
