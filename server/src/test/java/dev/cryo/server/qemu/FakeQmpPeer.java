package dev.cryo.server.qemu;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A scriptable QMP server on a real Unix socket, speaking real JSON: sends a QEMU 7.2 greeting,
 * answers {@code qmp_capabilities} itself, and queues every other command for the test to answer
 * (in any order, with a return or an error), interleaved with events, or to die mid-command.
 *
 * <p>Uses the JDK's Unix-domain channels rather than junixsocket so the client is tested against an
 * independent implementation. Reads and writes use the channel directly: on JDK 17 the {@code
 * Channels.newInputStream}/{@code newOutputStream} adapters share a lock, so a blocked read would
 * block every write.
 */
final class FakeQmpPeer implements AutoCloseable {
  private static final Gson GSON = new Gson();
  private static final Duration DEFAULT_WAIT = Duration.ofSeconds(5);

  /** A command the client sent. */
  record Command(String name, JsonObject arguments, JsonElement id, JsonObject raw) {}

  private final Path socket;
  private final ServerSocketChannel server;
  private final Thread thread;
  private final BlockingQueue<Command> commands = new LinkedBlockingQueue<>();
  private final CountDownLatch negotiated = new CountDownLatch(1);
  private final CountDownLatch disconnected = new CountDownLatch(1);
  private final Object writeLock = new Object();

  /** Set by the peer thread once a client is accepted; guarded by {@link #writeLock}. */
  private SocketChannel client;

  private final CountDownLatch accepted = new CountDownLatch(1);

  private FakeQmpPeer(Path socket) throws IOException {
    this.socket = socket;
    Files.createDirectories(socket.getParent());
    this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    this.thread = new Thread(this::serve, "fake-qmp-peer");
    thread.setDaemon(true);
  }

  /** Binds {@code socket} and serves one client connection in the background. */
  static FakeQmpPeer start(Path socket) throws IOException {
    FakeQmpPeer peer = new FakeQmpPeer(socket);
    peer.thread.start();
    return peer;
  }

  /** Waits until the client has finished capabilities negotiation. */
  void awaitNegotiated() throws InterruptedException {
    if (!negotiated.await(DEFAULT_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("client did not send qmp_capabilities");
    }
  }

  /** The next command the client sent (other than {@code qmp_capabilities}). */
  Command takeCommand() throws InterruptedException {
    Command command = commands.poll(DEFAULT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    if (command == null) {
      throw new AssertionError("client sent no command within " + DEFAULT_WAIT);
    }
    return command;
  }

  /** The next command, or null if none arrives within {@code wait}. */
  Command pollCommand(Duration wait) throws InterruptedException {
    return commands.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Answers {@code command} with {@code {"return": value, "id": ...}}. */
  void reply(Command command, JsonElement value) throws IOException {
    JsonObject reply = new JsonObject();
    reply.add("return", value);
    reply.add("id", command.id());
    send(reply);
  }

  /** Answers {@code command} with an empty {@code {"return": {}}}. */
  void replyEmpty(Command command) throws IOException {
    reply(command, new JsonObject());
  }

  /** Answers {@code command} with {@code {"error": {"class", "desc"}, "id": ...}}. */
  void replyError(Command command, String errorClass, String description) throws IOException {
    JsonObject error = new JsonObject();
    error.addProperty("class", errorClass);
    error.addProperty("desc", description);
    JsonObject reply = new JsonObject();
    reply.add("error", error);
    reply.add("id", command.id());
    send(reply);
  }

  /** Emits an event with the given data and timestamp. */
  void sendEvent(String name, JsonObject data, Instant timestamp) throws IOException {
    JsonObject ts = new JsonObject();
    ts.addProperty("seconds", timestamp.getEpochSecond());
    ts.addProperty("microseconds", timestamp.getNano() / 1000);
    JsonObject event = new JsonObject();
    event.addProperty("event", name);
    if (data != null) {
      event.add("data", data);
    }
    event.add("timestamp", ts);
    send(event);
  }

  /** Emits an event stamped now. */
  void sendEvent(String name, JsonObject data) throws IOException {
    sendEvent(name, data, Instant.now());
  }

  /** Writes {@code line} plus CRLF verbatim, as QEMU terminates its lines. */
  void sendRaw(String line) throws IOException {
    awaitAccepted();
    ByteBuffer buffer = ByteBuffer.wrap((line + "\r\n").getBytes(StandardCharsets.UTF_8));
    synchronized (writeLock) {
      while (buffer.hasRemaining()) {
        client.write(buffer);
      }
    }
  }

  /** Closes the connection abruptly, as a crashing QEMU would. */
  void die() throws IOException {
    awaitAccepted();
    synchronized (writeLock) {
      client.close();
    }
    server.close();
  }

  /** Whether the connection ended (client closed it, or {@link #die()}) within {@code wait}. */
  boolean awaitDisconnected(Duration wait) throws InterruptedException {
    return disconnected.await(wait.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() throws IOException {
    IOException failure = null;
    synchronized (writeLock) {
      if (client != null) {
        try {
          client.close();
        } catch (IOException e) {
          failure = e;
        }
      }
    }
    try {
      server.close();
    } catch (IOException e) {
      if (failure == null) {
        failure = e;
      } else {
        failure.addSuppressed(e);
      }
    }
    thread.interrupt();
    Files.deleteIfExists(socket);
    if (failure != null) {
      throw failure;
    }
  }

  private void send(JsonObject message) throws IOException {
    sendRaw(GSON.toJson(message));
  }

  private void awaitAccepted() throws IOException {
    try {
      if (!accepted.await(DEFAULT_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IOException("no client connected to " + socket);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for a client", e);
    }
  }

  private void serve() {
    try {
      SocketChannel channel = server.accept();
      synchronized (writeLock) {
        client = channel;
      }
      accepted.countDown();
      sendRaw(
          "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7},"
              + " \"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}");
      ByteBuffer buffer = ByteBuffer.allocate(8192);
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      while (channel.read(buffer) >= 0) {
        buffer.flip();
        while (buffer.hasRemaining()) {
          byte b = buffer.get();
          if (b == '\n') {
            handle(line.toString(StandardCharsets.UTF_8));
            line.reset();
          } else {
            line.write(b);
          }
        }
        buffer.clear();
      }
    } catch (IOException e) {
      // die()/close() or the client going away ends the connection; either way we are done.
    } finally {
      disconnected.countDown();
    }
  }

  private void handle(String line) throws IOException {
    if (line.isBlank()) {
      return;
    }
    JsonObject raw = JsonParser.parseString(line).getAsJsonObject();
    String name = raw.get("execute").getAsString();
    JsonObject arguments = raw.has("arguments") ? raw.getAsJsonObject("arguments") : null;
    Command command = new Command(name, arguments, raw.get("id"), raw);
    if (name.equals("qmp_capabilities")) {
      replyEmpty(command);
      negotiated.countDown();
    } else {
      commands.add(command);
    }
  }
}
