package dev.cryo.server.qemu;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.ConnectionResetSocketException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QEMU Machine Protocol (QMP) connection over a Unix domain socket: the wire level (JSON,
 * command ids, events, file-descriptor passing). Callers outside this package use the typed {@link
 * QemuMonitor} built on it; QMP JSON never leaves {@code qemu/}.
 *
 * <p>{@link #connect} performs the handshake (greeting, {@code qmp_capabilities}); afterwards
 * commands can be sent from any thread. Each command carries a unique {@code id} and is matched to
 * its reply by that id, so concurrent commands may be answered in any order. Asynchronous events
 * are delivered to {@linkplain #addEventListener listeners} in the order QEMU sent them.
 *
 * <h2>Threads</h2>
 *
 * <ul>
 *   <li>One reader thread, {@code qmp-reader-<run dir>}, parses QEMU's output. It never runs caller
 *       code and never writes to the socket, so nothing a caller does can stall it.
 *   <li>One event thread, {@code qmp-events-<run dir>}, calls listeners one event at a time, in
 *       order. A slow listener delays later events but not command replies; a listener may call
 *       {@link #execute} (the reply is completed on another thread, so this cannot deadlock).
 *   <li>A small pool of callback threads, {@code qmp-callback-<run dir>}, completes the futures
 *       returned by {@link #executeAsync}, {@link #nextEvent} and {@link #closed}. Stages chained
 *       onto them with non-async methods run there and may block (even on another {@link #execute})
 *       without stalling the reader.
 *   <li>Commands are written on the calling thread, serialized by a lock so concurrent commands
 *       never interleave on the wire.
 * </ul>
 *
 * <p>This class is thread-safe. All threads it creates are daemons and are shut down by {@link
 * #close()} or when QEMU closes the connection.
 *
 * <h2>End of connection</h2>
 *
 * <p>When QEMU exits or closes the socket, when the socket fails, or when {@link #close()} is
 * called, every pending command fails at once with {@link QmpConnectionClosedException}, every
 * command issued afterwards fails with it immediately, pending {@link #nextEvent} futures fail with
 * it, and {@link #closed()} completes. Events that were read before the end are still delivered to
 * listeners, possibly after {@link #closed()} has completed.
 */
final class QmpConnection implements AutoCloseable {
  /** Timeout used by {@link #execute(String)} and the file-descriptor helpers. */
  public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(30);

  private static final Logger logger = LoggerFactory.getLogger(QmpConnection.class);
  // serializeNulls: an explicit JsonNull is meaningful to QMP (e.g. blockdev-add "backing": null).
  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls()
      .create();
  private static final int MAX_LOGGED_CHARS = 2000;
  private static final long CONNECT_RETRY_MIN_MILLIS = 10;
  private static final long CONNECT_RETRY_MAX_MILLIS = 200;
  private static final long READER_JOIN_MILLIS = 2000;

  private final AFUNIXSocket socket;
  private final BufferedReader in;
  private final String name;
  private final JsonObject version;
  private final Thread reader;
  private final ExecutorService eventExecutor;
  private final ExecutorService callbackExecutor;
  private final AtomicLong nextId;
  private final CompletableFuture<Void> closedFuture = new CompletableFuture<>();

  /** Guards every write to {@link #out} and the socket's outbound file descriptors. */
  private final ReentrantLock writeLock = new ReentrantLock();

  /** Guarded by {@link #writeLock}. */
  private final OutputStream out;

  /**
   * Commands sent and not yet answered, by id. Concurrent map: entries are added by callers,
   * removed by the reader (reply), by callers (timeout, write failure) and by {@link #terminate}.
   */
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();

  /** Copy-on-write: iterated by the event thread, modified by any thread. */
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();

  /**
   * Why the connection ended; null while open. Set once, by {@link #terminate}, before pending
   * commands are drained, so a sender that registers and then sees null knows it will be drained.
   */
  private final AtomicReference<End> end = new AtomicReference<>();

  private QmpConnection(
      AFUNIXSocket socket,
      BufferedReader in,
      OutputStream out,
      String name,
      JsonObject version,
      long nextId) {
    this.socket = socket;
    this.in = in;
    this.out = out;
    this.name = name;
    this.version = version;
    this.nextId = new AtomicLong(nextId);
    this.eventExecutor = Executors.newSingleThreadExecutor(daemonThreads("qmp-events-" + name));
    this.callbackExecutor = Executors.newCachedThreadPool(daemonThreads("qmp-callback-" + name));
    this.reader = new Thread(this::readLoop, "qmp-reader-" + name);
    this.reader.setDaemon(true);
  }

  /**
   * Connects to QEMU's QMP socket and completes the capabilities handshake.
   *
   * <p>QEMU creates the socket shortly after it starts, so this retries while the socket file is
   * missing or refuses connections, until {@code timeout} has elapsed. The same deadline bounds the
   * handshake.
   *
   * @param socket path of the QMP Unix socket ({@code -qmp unix:<path>,server=on,wait=off}); at
   *     most 107 bytes long (a kernel limit on socket addresses)
   * @param timeout how long to wait for the socket to accept and for the handshake to finish
   * @return a connected client in command mode; the caller must {@link #close()} it
   * @throws IOException if the socket did not accept in time, the peer did not speak QMP, or {@code
   *     qmp_capabilities} failed; an {@link InterruptedIOException} (with the interrupt flag
   *     restored) if the calling thread was interrupted
   */
  public static QmpConnection connect(Path socket, Duration timeout) throws IOException {
    Objects.requireNonNull(socket, "socket");
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative()) {
      throw new IllegalArgumentException("timeout must not be negative: " + timeout);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    AFUNIXSocket sock = connectWithRetry(socket, timeout, deadline);
    try {
      return handshake(sock, socket, deadline);
    } catch (IOException | RuntimeException e) {
      closeQuietly(sock, e);
      throw e;
    }
  }

  private static AFUNIXSocket connectWithRetry(Path path, Duration timeout, long deadline)
      throws IOException {
    AFUNIXSocketAddress address = AFUNIXSocketAddress.of(path);
    long backoffMillis = CONNECT_RETRY_MIN_MILLIS;
    int attempts = 0;
    while (true) {
      attempts++;
      try {
        AFUNIXSocket sock = AFUNIXSocket.connectTo(address);
        logger.debug("Connected to QMP socket {} after {} attempt(s)", path, attempts);
        return sock;
      } catch (FileNotFoundException | SocketException e) {
        // ENOENT until QEMU binds the socket, ECONNREFUSED between bind() and listen().
        long remainingMillis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (remainingMillis <= 0) {
          throw new IOException(
              "QMP socket "
                  + path
                  + " did not accept a connection within "
                  + timeout.toMillis()
                  + " ms ("
                  + attempts
                  + " attempts)",
              e);
        }
        try {
          Thread.sleep(Math.min(backoffMillis, remainingMillis));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          InterruptedIOException iioe =
              new InterruptedIOException("interrupted while connecting to QMP socket " + path);
          iioe.initCause(ie);
          throw iioe;
        }
        backoffMillis = Math.min(backoffMillis * 2, CONNECT_RETRY_MAX_MILLIS);
      }
    }
  }

  /**
   * Reads the greeting and negotiates capabilities on the caller's thread, before the reader thread
   * exists. QEMU sends no events in negotiation mode, so the only lines are the greeting and the
   * reply.
   */
  private static QmpConnection handshake(AFUNIXSocket sock, Path path, long deadline)
      throws IOException {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.UTF_8));
    OutputStream out = sock.getOutputStream();

    setReadDeadline(sock, deadline);
    JsonObject greeting = readHandshakeMessage(in, path, "greeting");
    if (!greeting.has("QMP") || !greeting.get("QMP").isJsonObject()) {
      throw new IOException(
          "peer at " + path + " did not send a QMP greeting: " + abbrev(greeting));
    }
    JsonObject qmp = greeting.getAsJsonObject("QMP");
    JsonObject version =
        qmp.has("version") && qmp.get("version").isJsonObject()
            ? qmp.getAsJsonObject("version")
            : new JsonObject();
    logger.debug("QMP greeting from {}: {}", path, abbrev(greeting));

    long capabilitiesId = 0;
    JsonObject request = new JsonObject();
    request.addProperty("execute", "qmp_capabilities");
    request.addProperty("id", capabilitiesId);
    out.write((GSON.toJson(request) + "\n").getBytes(StandardCharsets.UTF_8));
    out.flush();

    while (true) {
      setReadDeadline(sock, deadline);
      JsonObject reply = readHandshakeMessage(in, path, "qmp_capabilities reply");
      if (!reply.has("return") && !reply.has("error")) {
        logger.debug("Ignoring QMP message during negotiation: {}", abbrev(reply));
        continue;
      }
      if (reply.has("error")) {
        QmpException e = toQmpException("qmp_capabilities", reply.get("error"));
        throw new IOException("QMP capabilities negotiation with " + path + " failed", e);
      }
      break;
    }
    sock.setSoTimeout(0);

    QmpConnection client = new QmpConnection(sock, in, out, threadSuffix(path), version, 1);
    client.reader.start();
    logger.debug("QMP connection to {} ready, QEMU version {}", path, version);
    return client;
  }

  private static void setReadDeadline(AFUNIXSocket sock, long deadline) throws IOException {
    long remainingMillis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
    // 0 would mean "no timeout", so never pass less than 1 ms.
    sock.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, remainingMillis)));
  }

  private static JsonObject readHandshakeMessage(BufferedReader in, Path path, String what)
      throws IOException {
    while (true) {
      String line;
      try {
        line = in.readLine();
      } catch (SocketTimeoutException e) {
        throw new IOException("timed out waiting for QMP " + what + " on " + path, e);
      }
      if (line == null) {
        throw new QmpConnectionClosedException(
            "QMP peer at " + path + " closed the connection before its " + what, null);
      }
      if (line.isBlank()) {
        continue;
      }
      try {
        JsonElement element = JsonParser.parseString(line);
        if (element.isJsonObject()) {
          return element.getAsJsonObject();
        }
      } catch (JsonParseException e) {
        throw new IOException("QMP peer at " + path + " sent invalid JSON as its " + what, e);
      }
      throw new IOException("QMP peer at " + path + " sent a non-object as its " + what);
    }
  }

  private static String threadSuffix(Path socket) {
    Path parent = socket.toAbsolutePath().getParent();
    Path named = parent != null && parent.getFileName() != null ? parent : socket;
    return String.valueOf(named.getFileName());
  }

  /**
   * QEMU's version from the greeting, e.g. {@code {"qemu": {"major": 7, "minor": 2, "micro": 0},
   * "package": "..."}}. Treat as read-only.
   */
  public JsonObject version() {
    return version;
  }

  /**
   * Sends a command without waiting for its reply.
   *
   * <p>The write happens on the calling thread before this returns (it can block briefly if QEMU is
   * not reading); the reply completes the future on a callback thread. The future fails with {@link
   * QmpException} if QEMU answers with an error and with {@link QmpConnectionClosedException} if
   * the connection ends first or has already ended. This future has no timeout of its own; use
   * {@link CompletableFuture#orTimeout} or {@link #execute(String, JsonObject, Duration)}.
   * Cancelling the future forgets the command (a late reply is ignored) but cannot stop QEMU from
   * running it.
   *
   * @param command the QMP command name, e.g. {@code "query-status"}
   * @param arguments the command's {@code arguments} object, or {@code null} for none; not modified
   * @return the command's {@code return} value (usually a {@link JsonObject}; a {@link
   *     com.google.gson.JsonArray} for many {@code query-*} commands)
   */
  public CompletableFuture<JsonElement> executeAsync(String command, JsonObject arguments) {
    return send(command, arguments, null);
  }

  /**
   * Sends a command and waits for its reply.
   *
   * @param command the QMP command name, e.g. {@code "stop"}
   * @param arguments the command's {@code arguments} object, or {@code null} for none
   * @param timeout how long to wait for the reply
   * @return the command's {@code return} value
   * @throws QmpException if QEMU answered with an error
   * @throws QmpTimeoutException (an {@link IOException}) if no reply came within {@code timeout};
   *     the command is forgotten and its late reply ignored, but QEMU may still run it
   * @throws QmpConnectionClosedException if the connection ended before the reply or had already
   *     ended
   * @throws InterruptedIOException if the thread was interrupted (interrupt flag restored)
   */
  public JsonElement execute(String command, JsonObject arguments, Duration timeout)
      throws IOException, QmpException {
    Objects.requireNonNull(timeout, "timeout");
    return await(command, send(command, arguments, null), timeout);
  }

  /**
   * Sends a command without arguments and waits up to {@link #DEFAULT_COMMAND_TIMEOUT} for its
   * reply. See {@link #execute(String, JsonObject, Duration)}.
   */
  public JsonElement execute(String command) throws IOException, QmpException {
    return execute(command, null, DEFAULT_COMMAND_TIMEOUT);
  }

  /**
   * Hands a file descriptor to QEMU under a name, for later use by commands that refer to a named
   * descriptor (e.g. {@code migrate} with {@code "uri": "fd:<fdName>"}).
   *
   * <p>Runs QMP {@code getfd} and passes {@code fd} as {@code SCM_RIGHTS} ancillary data on the
   * same write. QEMU receives its own duplicate: the caller still owns {@code fd} and may close it
   * as soon as this returns. If QEMU already holds a descriptor under {@code fdName}, QEMU replaces
   * it.
   *
   * @param fdName the name QEMU files the descriptor under; must not start with a digit
   * @param fd an open file descriptor, e.g. from {@link java.io.FileOutputStream#getFD()}
   * @throws QmpException if QEMU rejected the name or did not receive the descriptor
   * @throws QmpTimeoutException if QEMU did not answer within {@link #DEFAULT_COMMAND_TIMEOUT}
   * @throws IOException if the connection failed or had ended
   */
  public void sendFileDescriptor(String fdName, FileDescriptor fd)
      throws IOException, QmpException {
    Objects.requireNonNull(fdName, "fdName");
    Objects.requireNonNull(fd, "fd");
    if (!fd.valid()) {
      throw new IllegalArgumentException("file descriptor for '" + fdName + "' is not open");
    }
    JsonObject arguments = new JsonObject();
    arguments.addProperty("fdname", fdName);
    await("getfd", send("getfd", arguments, fd), DEFAULT_COMMAND_TIMEOUT);
  }

  /**
   * Makes QEMU close a descriptor previously handed over with {@link #sendFileDescriptor} (QMP
   * {@code closefd}).
   *
   * @param fdName the name given to {@link #sendFileDescriptor}
   * @throws QmpException with class {@code GenericError} if QEMU holds no descriptor by that name
   * @throws IOException if the connection failed, had ended, or QEMU did not answer in time
   */
  public void closeFileDescriptor(String fdName) throws IOException, QmpException {
    Objects.requireNonNull(fdName, "fdName");
    JsonObject arguments = new JsonObject();
    arguments.addProperty("fdname", fdName);
    execute("closefd", arguments, DEFAULT_COMMAND_TIMEOUT);
  }

  /**
   * Registers a listener for every event, called on the event thread in the order QEMU sent the
   * events. Exceptions thrown by the listener are logged and otherwise ignored. The listener may
   * call {@link #execute}; while it runs, later events wait.
   *
   * @return a handle whose {@link Subscription#close()} removes the listener; once it returns, the
   *     listener is not called again (except for a call already in progress on the event thread)
   */
  public Subscription addEventListener(Consumer<QmpEvent> listener) {
    Objects.requireNonNull(listener, "listener");
    Listener entry = new ConsumerListener(listener);
    listeners.add(entry);
    return entry::remove;
  }

  /**
   * Returns a future for the next event named {@code name} that matches {@code filter}.
   *
   * <p>Register <em>before</em> issuing the command that triggers the event: QEMU often emits the
   * event before it sends the command's reply (e.g. {@code STOP} before {@code stop}'s return), so
   * waiting after {@link #execute} returns would race and could miss it. Typical use:
   *
   * <pre>{@code
   * CompletableFuture<QmpEvent> stopped = qmp.nextEvent("STOP", e -> true);
   * qmp.execute("stop");
   * stopped.get(10, TimeUnit.SECONDS);
   * }</pre>
   *
   * <p>The future completes on a callback thread; it fails with {@link
   * QmpConnectionClosedException} if the connection ends first, and with the filter's exception if
   * the filter throws. It has no timeout of its own ({@link CompletableFuture#orTimeout}); once it
   * completes or is cancelled, the registration is removed.
   *
   * @param name the event name, e.g. {@code "STOP"}, or {@code null} for any event
   * @param filter further condition on the event, or {@code null} to accept any event by that name
   */
  public CompletableFuture<QmpEvent> nextEvent(String name, Predicate<QmpEvent> filter) {
    EventWaiter waiter = new EventWaiter(name, filter);
    listeners.add(waiter);
    waiter.future.whenComplete((e, t) -> waiter.remove());
    if (isTerminated()) {
      // terminate() may have notified listeners before this one was added.
      waiter.onClosed();
    }
    return waiter.future;
  }

  /**
   * Completes (normally) when the connection has ended for any reason: QEMU exited or closed the
   * socket, the socket failed, or {@link #close()} was called. Completes on a callback thread.
   */
  public CompletableFuture<Void> closed() {
    return closedFuture.copy();
  }

  /** Whether the connection is still open. */
  public boolean isOpen() {
    return end.get() == null;
  }

  private boolean isTerminated() {
    return end.get() != null;
  }

  /**
   * Closes the socket, stops the reader thread, fails pending commands and event waits with {@link
   * QmpConnectionClosedException}, and shuts down the threads this client created. Idempotent; does
   * not stop QEMU.
   */
  @Override
  public void close() {
    terminate("the QMP client was closed", null);
    Thread current = Thread.currentThread();
    if (current != reader) {
      try {
        reader.join(READER_JOIN_MILLIS);
      } catch (InterruptedException e) {
        current.interrupt();
      }
    }
  }

  /** Number of commands awaiting a reply; for tests. */
  int pendingCount() {
    return pending.size();
  }

  private CompletableFuture<JsonElement> send(
      String command, JsonObject arguments, FileDescriptor fd) {
    Objects.requireNonNull(command, "command");
    long id = nextId.getAndIncrement();
    CompletableFuture<JsonElement> future = new CompletableFuture<>();
    if (isTerminated()) {
      future.completeExceptionally(closedException(command));
      return future;
    }
    pending.put(id, new Pending(command, future));
    // Removes the entry if the caller cancels or a timeout completes the future.
    future.whenComplete((r, t) -> pending.remove(id));
    if (isTerminated()) {
      // terminate() sets the flag before draining, so either it drained this entry or we see it.
      failPending(id, closedException(command));
      return future;
    }

    JsonObject request = new JsonObject();
    request.addProperty("execute", command);
    if (arguments != null) {
      request.add("arguments", arguments.deepCopy());
    }
    request.addProperty("id", id);
    String line = GSON.toJson(request);
    byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);

    writeLock.lock();
    try {
      if (logger.isDebugEnabled()) {
        logger.debug("[{}] -> {}{}", name, abbrev(line), fd != null ? " (+1 fd)" : "");
      }
      if (fd != null) {
        socket.setOutboundFileDescriptors(fd);
      }
      try {
        out.write(bytes);
        out.flush();
      } finally {
        if (fd != null) {
          // junixsocket sends pending descriptors with the next write; never let them leak into
          // a later command if this write failed before sending anything.
          socket.setOutboundFileDescriptors();
        }
      }
    } catch (IOException e) {
      if (isTerminated()) {
        failPending(id, closedException(command));
      } else {
        logger.debug("[{}] writing '{}' failed", name, command, e);
        // A failed write leaves the stream in an unknown state; the connection is unusable.
        terminate("writing to the QMP socket failed", e);
      }
    } finally {
      writeLock.unlock();
    }
    return future;
  }

  private JsonElement await(String command, CompletableFuture<JsonElement> future, Duration timeout)
      throws IOException, QmpException {
    try {
      return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      // Completing the future removes the pending entry (see send()).
      QmpTimeoutException timeoutException = new QmpTimeoutException(command, timeout);
      if (future.completeExceptionally(timeoutException)) {
        throw timeoutException;
      }
      return await(command, future, Duration.ZERO); // Answered in the meantime.
    } catch (InterruptedException e) {
      future.cancel(false);
      Thread.currentThread().interrupt();
      InterruptedIOException iioe =
          new InterruptedIOException("interrupted while waiting for QMP command '" + command + "'");
      iioe.initCause(e);
      throw iioe;
    } catch (ExecutionException e) {
      // Rethrow a fresh exception so its stack trace shows the caller, not the reader thread.
      Throwable cause = e.getCause();
      if (cause instanceof QmpException q) {
        throw new QmpException(q.command(), q.errorClass(), q.description());
      }
      if (cause instanceof QmpConnectionClosedException c) {
        throw new QmpConnectionClosedException(c.getMessage(), c);
      }
      if (cause instanceof QmpTimeoutException t) {
        throw t;
      }
      if (cause instanceof IOException io) {
        throw new IOException(io.getMessage(), io);
      }
      throw new IOException("QMP command '" + command + "' failed", cause);
    }
  }

  private void readLoop() {
    String reason = "QMP reader stopped unexpectedly";
    Throwable failure = null;
    try {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        try {
          dispatch(line);
        } catch (RuntimeException e) {
          // Well-formed JSON of an unexpected shape; QEMU does not send such, so skip it.
          logger.warn("[{}] ignoring unusable QMP message: {}", name, abbrev(line), e);
        }
      }
      reason = "QEMU closed the QMP connection";
    } catch (ConnectionResetSocketException e) {
      // How QEMU's exit usually looks (it exits with our last bytes unread): a normal end.
      reason = "QEMU closed the QMP connection";
    } catch (IOException e) {
      reason = "the QMP connection to QEMU failed";
      failure = e;
    } catch (Throwable t) {
      failure = t;
      throw t;
    } finally {
      if (isTerminated()) {
        logger.debug("[{}] QMP reader stopped after close", name);
      } else {
        if (failure == null) {
          logger.debug("[{}] {}", name, reason);
        } else {
          logger.warn("[{}] {}", name, reason, failure);
        }
        terminate(reason, failure);
      }
    }
  }

  private void dispatch(String line) {
    JsonObject message;
    try {
      JsonElement element = JsonParser.parseString(line);
      if (!element.isJsonObject()) {
        logger.warn("[{}] ignoring non-object QMP message: {}", name, abbrev(line));
        return;
      }
      message = element.getAsJsonObject();
    } catch (JsonParseException e) {
      logger.warn("[{}] ignoring malformed QMP message: {}", name, abbrev(line), e);
      return;
    }

    if (message.has("event")) {
      logger.debug("[{}] <- event {}", name, abbrev(line));
      QmpEvent event = toEvent(message);
      try {
        eventExecutor.execute(() -> deliver(event));
      } catch (RejectedExecutionException e) {
        logger.debug("[{}] dropping event {} after close", name, event.name());
      }
      return;
    }
    if (message.has("return") || message.has("error")) {
      Long id = idOf(message.get("id"));
      Pending entry = id == null ? null : pending.remove(id);
      if (entry == null) {
        // Late reply after a timeout or cancel, or QEMU's id-less error for unparseable input.
        logger.debug("[{}] <- reply for no pending command: {}", name, abbrev(line));
        return;
      }
      logger.debug("[{}] <- '{}' {}", name, entry.command, abbrev(line));
      if (message.has("error")) {
        QmpException error = toQmpException(entry.command, message.get("error"));
        completeLater(() -> entry.future.completeExceptionally(error));
      } else {
        JsonElement result = message.get("return");
        completeLater(() -> entry.future.complete(result));
      }
      return;
    }
    logger.warn("[{}] ignoring unexpected QMP message: {}", name, abbrev(line));
  }

  private void deliver(QmpEvent event) {
    for (Listener listener : listeners) {
      if (!listener.active) {
        continue;
      }
      try {
        listener.onEvent(event);
      } catch (VirtualMachineError e) {
        throw e;
      } catch (Throwable t) {
        // Includes AssertionError from test listeners: one bad listener must not starve others.
        logger.warn("[{}] QMP event listener failed on {}", name, event.name(), t);
      }
    }
  }

  /**
   * Ends the connection once; later calls do nothing. Safe from any thread, including the reader.
   */
  private void terminate(String reason, Throwable cause) {
    if (!end.compareAndSet(null, new End(reason, cause))) {
      return;
    }
    try {
      socket.close(); // Unblocks the reader if it is still reading.
    } catch (IOException e) {
      logger.debug("[{}] closing the QMP socket failed", name, e);
    }
    for (Long id : new ArrayList<>(pending.keySet())) {
      Pending entry = pending.get(id);
      if (entry != null) {
        failPending(id, closedException(entry.command));
      }
    }
    // Queued behind events already read, so a waiter for e.g. SHUTDOWN sent just before EOF
    // gets its event rather than a "closed" failure.
    Runnable notifyListeners =
        () -> {
          for (Listener listener : listeners) {
            listener.onClosed();
          }
        };
    try {
      eventExecutor.execute(notifyListeners);
    } catch (RejectedExecutionException e) {
      notifyListeners.run();
    }
    completeLater(() -> closedFuture.complete(null));
    // Already queued events and completions still run; nothing new is accepted.
    eventExecutor.shutdown();
    callbackExecutor.shutdown();
  }

  private void failPending(long id, QmpConnectionClosedException exception) {
    Pending entry = pending.remove(id);
    if (entry != null) {
      completeLater(() -> entry.future.completeExceptionally(exception));
    }
  }

  private QmpConnectionClosedException closedException(String command) {
    End e = end.get();
    return new QmpConnectionClosedException(
        e.reason() + " while '" + command + "' was pending", e.cause());
  }

  /**
   * Runs a future completion on the callback pool so that dependent stages never run on the reader
   * or event thread; after shutdown (connection ended), runs it inline.
   */
  private void completeLater(Runnable completion) {
    try {
      callbackExecutor.execute(completion);
    } catch (RejectedExecutionException e) {
      completion.run();
    }
  }

  private static QmpEvent toEvent(JsonObject message) {
    String eventName = message.get("event").getAsString();
    JsonElement data = message.get("data");
    JsonObject dataObject =
        data != null && data.isJsonObject() ? data.getAsJsonObject() : new JsonObject();
    Instant timestamp = Instant.now(); // Fallback: QEMU always sends one, fakes might not.
    JsonElement ts = message.get("timestamp");
    if (ts != null && ts.isJsonObject()) {
      JsonObject t = ts.getAsJsonObject();
      try {
        long seconds = t.get("seconds").getAsLong();
        long micros = t.get("microseconds").getAsLong();
        timestamp = Instant.ofEpochSecond(seconds, TimeUnit.MICROSECONDS.toNanos(micros));
      } catch (RuntimeException e) {
        logger.debug("Unusable timestamp in QMP event {}: {}", eventName, ts);
      }
    }
    return new QmpEvent(eventName, dataObject, timestamp);
  }

  private static QmpException toQmpException(String command, JsonElement error) {
    String errorClass = "GenericError";
    String description = String.valueOf(error);
    if (error != null && error.isJsonObject()) {
      JsonObject e = error.getAsJsonObject();
      if (e.has("class")) {
        errorClass = asText(e.get("class"));
      }
      if (e.has("desc")) {
        description = asText(e.get("desc"));
      }
    }
    return new QmpException(command, errorClass, description);
  }

  private static String asText(JsonElement element) {
    return element.isJsonPrimitive() ? element.getAsString() : element.toString();
  }

  private static Long idOf(JsonElement id) {
    if (id == null || !id.isJsonPrimitive()) {
      return null;
    }
    JsonPrimitive primitive = id.getAsJsonPrimitive();
    try {
      return primitive.isNumber() ? primitive.getAsLong() : Long.valueOf(primitive.getAsString());
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static String abbrev(Object message) {
    String s = String.valueOf(message);
    return s.length() <= MAX_LOGGED_CHARS
        ? s
        : s.substring(0, MAX_LOGGED_CHARS) + "... (" + s.length() + " chars)";
  }

  private static void closeQuietly(AFUNIXSocket sock, Exception primary) {
    try {
      sock.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }

  private static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger count = new AtomicInteger();
    return r -> {
      int n = count.getAndIncrement();
      Thread t = new Thread(r, n == 0 ? prefix : prefix + "-" + n);
      t.setDaemon(true);
      return t;
    };
  }

  /** Removes an event listener; {@link #close()} is idempotent and throws nothing. */
  @FunctionalInterface
  public interface Subscription extends AutoCloseable {
    @Override
    void close();
  }

  /** A command awaiting its reply. */
  private record Pending(String command, CompletableFuture<JsonElement> future) {}

  /** Why and how the connection ended. */
  private record End(String reason, Throwable cause) {}

  /** A registered listener; {@code active} stops delivery as soon as it is removed. */
  private abstract class Listener {
    volatile boolean active = true;

    abstract void onEvent(QmpEvent event);

    /** Called once when the connection ends. */
    void onClosed() {}

    final void remove() {
      active = false;
      listeners.remove(this);
    }
  }

  private final class ConsumerListener extends Listener {
    private final Consumer<QmpEvent> consumer;

    ConsumerListener(Consumer<QmpEvent> consumer) {
      this.consumer = consumer;
    }

    @Override
    void onEvent(QmpEvent event) {
      consumer.accept(event);
    }
  }

  /** A one-shot {@link #nextEvent} registration. */
  private final class EventWaiter extends Listener {
    final CompletableFuture<QmpEvent> future = new CompletableFuture<>();
    private final String eventName;
    private final Predicate<QmpEvent> filter;

    EventWaiter(String eventName, Predicate<QmpEvent> filter) {
      this.eventName = eventName;
      this.filter = filter;
    }

    @Override
    void onEvent(QmpEvent event) {
      if ((eventName != null && !event.name().equals(eventName)) || future.isDone()) {
        return;
      }
      boolean matches;
      try {
        matches = filter == null || filter.test(event);
      } catch (RuntimeException e) {
        active = false;
        completeLater(() -> future.completeExceptionally(e));
        return;
      }
      if (matches) {
        active = false; // The completion runs later; don't match a second event meanwhile.
        completeLater(() -> future.complete(event));
      }
    }

    @Override
    void onClosed() {
      if (!active) {
        return; // Already matched (completion in flight) or cancelled.
      }
      active = false;
      End e = end.get();
      QmpConnectionClosedException exception =
          new QmpConnectionClosedException(
              e.reason() + " before event '" + (eventName == null ? "any" : eventName)
                  + "' arrived", e.cause());
      completeLater(() -> future.completeExceptionally(exception));
    }
  }
}
