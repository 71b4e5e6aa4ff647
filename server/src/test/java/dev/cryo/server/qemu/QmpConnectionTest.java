package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class QmpConnectionTest {
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
  private static final long WAIT_SECONDS = 5;

  @TempDir Path tempDir;

  private Path socket;
  private FakeQmpPeer peer;
  private QmpConnection client;
  private final ExecutorService background = Executors.newCachedThreadPool();

  @BeforeEach
  void setUp() {
    socket = tempDir.resolve("vm-test").resolve("qmp.sock");
  }

  @AfterEach
  void tearDown() throws Exception {
    if (client != null) {
      client.close();
    }
    if (peer != null) {
      peer.close();
    }
    background.shutdownNow();
  }

  private void connect() throws Exception {
    peer = FakeQmpPeer.start(socket);
    client = QmpConnection.connect(socket, CONNECT_TIMEOUT);
    peer.awaitNegotiated();
  }

  private static JsonObject json(String text) {
    return JsonParser.parseString(text).getAsJsonObject();
  }

  private static <T> T await(CompletableFuture<T> future) throws Exception {
    return future.get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  private static Throwable failureOf(CompletableFuture<?> future) throws Exception {
    try {
      future.get(WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("future completed normally: " + future.join());
  }

  @Test
  void connect_readsGreetingAndNegotiatesCapabilities() throws Exception {
    connect();

    assertThat(client.isOpen()).isTrue();
    assertThat(client.version().getAsJsonObject("qemu").get("major").getAsInt()).isEqualTo(7);
    assertThat(client.version().getAsJsonObject("qemu").get("minor").getAsInt()).isEqualTo(2);
    assertThat(client.version().get("package").getAsString()).isEqualTo("fake");
  }

  @Test
  void connect_retriesUntilSocketAppears() throws Exception {
    Future<QmpConnection> connecting =
        background.submit(() -> QmpConnection.connect(socket, Duration.ofSeconds(10)));
    Thread.sleep(300);
    assertThat(connecting).isNotDone();

    peer = FakeQmpPeer.start(socket);
    client = connecting.get(WAIT_SECONDS, TimeUnit.SECONDS);

    peer.awaitNegotiated();
    CompletableFuture<JsonElement> status = client.executeAsync("query-status", null);
    peer.reply(peer.takeCommand(), json("{\"status\": \"running\"}"));
    assertThat(await(status).getAsJsonObject().get("status").getAsString()).isEqualTo("running");
  }

  @Test
  void connect_socketNeverAppears_failsAfterTimeout() {
    long start = System.nanoTime();

    assertThatThrownBy(() -> QmpConnection.connect(socket, Duration.ofMillis(300)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("did not accept a connection within 300 ms");

    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
  }

  @Test
  void connect_peerSendsNoGreeting_failsAfterTimeout() throws Exception {
    Files.createDirectories(socket.getParent());
    try (var silent =
        java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      silent.bind(java.net.UnixDomainSocketAddress.of(socket));

      assertThatThrownBy(() -> QmpConnection.connect(socket, Duration.ofMillis(300)))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("timed out waiting for QMP greeting");
    }
  }

  @Test
  void executeAsync_returnValue_completesWithReturnAndSendsArguments() throws Exception {
    connect();
    JsonObject arguments = json("{\"device\": \"drive0\", \"speed\": 1024}");

    CompletableFuture<JsonElement> result = client.executeAsync("block-job-set-speed", arguments);
    FakeQmpPeer.Command command = peer.takeCommand();
    peer.reply(command, json("{\"ok\": true}"));

    assertThat(command.name()).isEqualTo("block-job-set-speed");
    assertThat(command.arguments()).isEqualTo(arguments);
    assertThat(command.id()).isNotNull();
    assertThat(await(result)).isEqualTo(json("{\"ok\": true}"));
  }

  @Test
  void execute_noArguments_omitsArgumentsAndReturnsArray() throws Exception {
    connect();
    background.submit(
        () -> {
          FakeQmpPeer.Command command = peer.takeCommand();
          assertThat(command.raw().has("arguments")).isFalse();
          peer.reply(command, JsonParser.parseString("[{\"id\": \"c1\"}, {\"id\": \"c2\"}]"));
          return null;
        });

    JsonElement result = client.execute("query-chardev");

    assertThat(result.isJsonArray()).isTrue();
    assertThat(result.getAsJsonArray()).hasSize(2);
  }

  @Test
  void execute_errorReply_throwsQmpExceptionWithClassAndDescription() throws Exception {
    connect();
    background.submit(
        () -> {
          peer.replyError(peer.takeCommand(), "DeviceNotFound", "Device 'nope' not found");
          return null;
        });

    assertThatThrownBy(
            () ->
                client.execute(
                    "device_del", json("{\"id\": \"nope\"}"), Duration.ofSeconds(WAIT_SECONDS)))
        .isInstanceOfSatisfying(
            QmpException.class,
            e -> {
              assertThat(e.command()).isEqualTo("device_del");
              assertThat(e.errorClass()).isEqualTo("DeviceNotFound");
              assertThat(e.description()).isEqualTo("Device 'nope' not found");
            })
        .hasMessage("QMP command 'device_del' failed: DeviceNotFound: Device 'nope' not found");
    // The connection survives a failed command.
    assertThat(client.isOpen()).isTrue();
  }

  @Test
  void executeAsync_twoCommandsAnsweredOutOfOrder_eachGetsItsOwnReply() throws Exception {
    connect();

    CompletableFuture<JsonElement> first = client.executeAsync("first", null);
    CompletableFuture<JsonElement> second = client.executeAsync("second", null);
    FakeQmpPeer.Command firstCommand = peer.takeCommand();
    FakeQmpPeer.Command secondCommand = peer.takeCommand();
    peer.reply(secondCommand, json("{\"n\": 2}"));
    assertThat(await(second)).isEqualTo(json("{\"n\": 2}"));
    assertThat(first).isNotDone();
    peer.reply(firstCommand, json("{\"n\": 1}"));

    assertThat(await(first)).isEqualTo(json("{\"n\": 1}"));
    assertThat(firstCommand.id()).isNotEqualTo(secondCommand.id());
  }

  @Test
  void execute_manyConcurrentCallersAnsweredInReverse_eachGetsItsOwnReply() throws Exception {
    connect();
    int callers = 16;
    List<Future<JsonElement>> results = new ArrayList<>();
    for (int i = 0; i < callers; i++) {
      JsonObject arguments = new JsonObject();
      arguments.addProperty("n", i);
      results.add(
          background.submit(
              () -> client.execute("echo", arguments, Duration.ofSeconds(WAIT_SECONDS))));
    }
    List<FakeQmpPeer.Command> commands = new ArrayList<>();
    for (int i = 0; i < callers; i++) {
      commands.add(peer.takeCommand());
    }
    Collections.reverse(commands);
    for (FakeQmpPeer.Command command : commands) {
      peer.reply(command, command.arguments());
    }

    for (int i = 0; i < callers; i++) {
      JsonElement result = results.get(i).get(WAIT_SECONDS, TimeUnit.SECONDS);
      assertThat(result.getAsJsonObject().get("n").getAsInt()).isEqualTo(i);
    }
    assertThat(client.pendingCount()).isZero();
  }

  @Test
  void events_interleavedWithReplies_deliveredInOrderWithDataAndTimestamp() throws Exception {
    connect();
    List<QmpEvent> events = Collections.synchronizedList(new ArrayList<>());
    client.addEventListener(events::add);
    CompletableFuture<QmpEvent> last = client.nextEvent("RESUME", null);
    Instant stamp = Instant.ofEpochSecond(1_700_000_000L, 123_456_000L);

    CompletableFuture<JsonElement> stop = client.executeAsync("stop", null);
    FakeQmpPeer.Command command = peer.takeCommand();
    peer.sendEvent("STOP", null, stamp);
    peer.sendEvent("JOB_STATUS_CHANGE", json("{\"id\": \"j1\", \"status\": \"running\"}"));
    peer.replyEmpty(command);
    peer.sendEvent("RESUME", json("{}"));

    assertThat(await(stop)).isEqualTo(new JsonObject());
    await(last);
    assertThat(events)
        .extracting(QmpEvent::name)
        .containsExactly("STOP", "JOB_STATUS_CHANGE", "RESUME");
    assertThat(events.get(0).data()).isEqualTo(new JsonObject());
    assertThat(events.get(0).timestamp()).isEqualTo(stamp);
    assertThat(events.get(1).data().get("status").getAsString()).isEqualTo("running");
  }

  @Test
  void events_manyInARow_deliveredInOrder() throws Exception {
    connect();
    List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
    client.addEventListener(e -> seen.add(e.data().get("seq").getAsInt()));
    CompletableFuture<QmpEvent> done =
        client.nextEvent("TICK", e -> e.data().get("seq").getAsInt() == 199);

    for (int i = 0; i < 200; i++) {
      peer.sendEvent("TICK", json("{\"seq\": " + i + "}"));
    }

    await(done);
    // Listeners run in registration order on one thread, so the listener saw seq 199 first.
    assertThat(seen).hasSize(200).isSorted();
  }

  @Test
  void addEventListener_listenerCallsExecute_doesNotDeadlock() throws Exception {
    connect();
    CompletableFuture<JsonElement> fromListener = new CompletableFuture<>();
    client.addEventListener(
        event -> {
          if (event.name().equals("STOP")) {
            try {
              fromListener.complete(client.execute("query-status", null, Duration.ofSeconds(10)));
            } catch (Exception e) {
              fromListener.completeExceptionally(e);
            }
          }
        });
    CompletableFuture<QmpEvent> later = client.nextEvent("RESUME", null);

    peer.sendEvent("STOP", null);
    FakeQmpPeer.Command query = peer.takeCommand();
    assertThat(query.name()).isEqualTo("query-status");
    peer.reply(query, json("{\"status\": \"paused\"}"));
    peer.sendEvent("RESUME", null);

    assertThat(await(fromListener).getAsJsonObject().get("status").getAsString())
        .isEqualTo("paused");
    assertThat(await(later).name()).isEqualTo("RESUME");
  }

  @Test
  void executeAsync_nonAsyncContinuationCallsExecute_doesNotDeadlock() throws Exception {
    connect();

    CompletableFuture<JsonElement> chained =
        client
            .executeAsync("first", null)
            .thenApply(
                first -> {
                  try {
                    return client.execute("second", null, Duration.ofSeconds(10));
                  } catch (Exception e) {
                    throw new IllegalStateException(e);
                  }
                });
    peer.reply(peer.takeCommand(), json("{\"n\": 1}"));
    FakeQmpPeer.Command second = peer.takeCommand();
    assertThat(second.name()).isEqualTo("second");
    peer.reply(second, json("{\"n\": 2}"));

    assertThat(await(chained)).isEqualTo(json("{\"n\": 2}"));
  }

  @Test
  void addEventListener_listenerThrows_laterListenersAndEventsStillDelivered() throws Exception {
    connect();
    client.addEventListener(
        e -> {
          throw new IllegalStateException("listener bug");
        });
    List<String> seen = Collections.synchronizedList(new ArrayList<>());
    client.addEventListener(e -> seen.add(e.name()));
    CompletableFuture<QmpEvent> second = client.nextEvent("B", null);

    peer.sendEvent("A", null);
    peer.sendEvent("B", null);

    await(second);
    assertThat(seen).containsExactly("A", "B");
  }

  @Test
  void subscriptionClose_stopsDelivery() throws Exception {
    connect();
    List<String> seen = Collections.synchronizedList(new ArrayList<>());
    QmpConnection.Subscription subscription = client.addEventListener(e -> seen.add(e.name()));
    CompletableFuture<QmpEvent> first = client.nextEvent("A", null);
    peer.sendEvent("A", null);
    await(first);

    subscription.close();
    subscription.close(); // idempotent
    CompletableFuture<QmpEvent> second = client.nextEvent("B", null);
    peer.sendEvent("B", null);
    await(second);

    assertThat(seen).containsExactly("A");
  }

  @Test
  void nextEvent_filter_skipsNonMatchingEvents() throws Exception {
    connect();
    CompletableFuture<QmpEvent> job2 =
        client.nextEvent(
            "BLOCK_JOB_COMPLETED", e -> e.data().get("device").getAsString().equals("job2"));

    peer.sendEvent("BLOCK_JOB_COMPLETED", json("{\"device\": \"job1\"}"));
    peer.sendEvent("OTHER", json("{\"device\": \"job2\"}"));
    peer.sendEvent("BLOCK_JOB_COMPLETED", json("{\"device\": \"job2\", \"len\": 7}"));

    assertThat(await(job2).data().get("len").getAsInt()).isEqualTo(7);
  }

  @Test
  void peerDiesMidCommand_pendingFailsAtOnceAndClosedCompletes() throws Exception {
    connect();
    CompletableFuture<QmpEvent> neverComing = client.nextEvent("MIGRATION", null);
    CompletableFuture<JsonElement> migrate = client.executeAsync("migrate", null);
    peer.takeCommand();
    long start = System.nanoTime();

    peer.die();

    assertThat(failureOf(migrate))
        .isInstanceOf(QmpConnectionClosedException.class)
        .hasMessage("QEMU closed the QMP connection while 'migrate' was pending");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
    await(client.closed());
    assertThat(client.isOpen()).isFalse();
    assertThat(failureOf(neverComing))
        .isInstanceOf(QmpConnectionClosedException.class)
        .hasMessageContaining("'MIGRATION'");
    assertThat(client.pendingCount()).isZero();
    // New commands fail immediately, without waiting for a timeout.
    CompletableFuture<JsonElement> after = client.executeAsync("query-status", null);
    assertThat(after).isCompletedExceptionally();
    assertThatThrownBy(() -> client.execute("query-status"))
        .isInstanceOf(QmpConnectionClosedException.class)
        .hasMessageContaining("'query-status'");
  }

  @Test
  void close_failsPendingCommandsAndCompletesClosed() throws Exception {
    connect();
    CompletableFuture<JsonElement> pending = client.executeAsync("query-status", null);
    peer.takeCommand();

    client.close();

    assertThat(failureOf(pending))
        .isInstanceOf(QmpConnectionClosedException.class)
        .hasMessage("the QMP client was closed while 'query-status' was pending");
    await(client.closed());
    assertThat(peer.awaitDisconnected(Duration.ofSeconds(WAIT_SECONDS))).isTrue();
  }

  @Test
  void execute_afterClose_failsImmediately() throws Exception {
    connect();
    client.close();
    client.close(); // idempotent

    assertThat(client.executeAsync("query-status", null)).isCompletedExceptionally();
    assertThatThrownBy(() -> client.execute("query-status"))
        .isInstanceOf(QmpConnectionClosedException.class);
    assertThat(peer.pollCommand(Duration.ofMillis(100))).isNull();
  }

  @Test
  void close_stopsReaderAndEventThreads() throws Exception {
    connect();
    assertThat(threadsNamed("qmp-reader-vm-test")).hasSize(1);
    CompletableFuture<QmpEvent> event = client.nextEvent("X", null);
    peer.sendEvent("X", null);
    await(event);
    assertThat(threadsNamed("qmp-events-vm-test")).hasSize(1);

    client.close();

    assertThat(threadsNamed("qmp-reader-vm-test")).isEmpty();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (!threadsNamed("qmp-events-vm-test").isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(threadsNamed("qmp-events-vm-test")).isEmpty();
  }

  @Test
  void execute_timeout_throwsAndRemovesPendingEntry() throws Exception {
    connect();

    assertThatThrownBy(() -> client.execute("slow", null, Duration.ofMillis(200)))
        .isInstanceOfSatisfying(
            QmpTimeoutException.class, e -> assertThat(e.command()).isEqualTo("slow"))
        .hasMessage("QMP command 'slow' got no reply within 200 ms");

    assertThat(client.pendingCount()).isZero();
    // A late reply is ignored and the connection keeps working.
    peer.reply(peer.takeCommand(), json("{\"late\": true}"));
    CompletableFuture<JsonElement> next = client.executeAsync("query-status", null);
    peer.reply(peer.takeCommand(), json("{\"status\": \"running\"}"));
    assertThat(await(next)).isEqualTo(json("{\"status\": \"running\"}"));
  }

  @Test
  void executeAsync_cancelled_removesPendingEntry() throws Exception {
    connect();
    CompletableFuture<JsonElement> result = client.executeAsync("slow", null);
    assertThat(client.pendingCount()).isEqualTo(1);

    result.cancel(false);

    assertThat(client.pendingCount()).isZero();
  }

  @Test
  void reader_malformedLine_skippedAndConnectionKeepsWorking() throws Exception {
    connect();
    peer.sendRaw("this is not json");
    peer.sendRaw("[1, 2, 3]");
    peer.sendRaw("{\"return\": {}, \"id\": 987654}");

    CompletableFuture<JsonElement> result = client.executeAsync("query-status", null);
    peer.reply(peer.takeCommand(), json("{\"status\": \"running\"}"));

    assertThat(await(result)).isEqualTo(json("{\"status\": \"running\"}"));
    assertThat(client.isOpen()).isTrue();
  }

  @Test
  void close_duringListenerCallback_doesNotHang() throws Exception {
    connect();
    CountDownLatch closedFromListener = new CountDownLatch(1);
    client.addEventListener(
        e -> {
          client.close();
          closedFromListener.countDown();
        });

    peer.sendEvent("SHUTDOWN", null);

    assertThat(closedFromListener.await(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
    await(client.closed());
  }

  private static List<Thread> threadsNamed(String name) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals(name) && t.isAlive())
        .toList();
  }
}
