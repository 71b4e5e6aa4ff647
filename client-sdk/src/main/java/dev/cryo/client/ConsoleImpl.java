package dev.cryo.client;

import com.google.protobuf.ByteString;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.OpenConsoleRequest;
import dev.cryo.api.v1.OpenConsoleResponse;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@link Console} over the OpenConsole bidirectional stream. */
final class ConsoleImpl implements Console {
  private static final int MAX_LINES = 100_000;

  private final ClientCallStreamObserver<OpenConsoleRequest> requests;
  /** Gets every output chunk as it arrives, on a gRPC thread; null when nobody asked. */
  private final Consumer<byte[]> rawOutput;
  private final CompletableFuture<Void> ended = new CompletableFuture<>();
  /** Guarded by {@code this}. */
  private final List<String> lines = new ArrayList<>();
  private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
  private final StringBuilder transcript = new StringBuilder();
  private int cursor;
  private CryoException failure;
  private boolean closed;

  ConsoleImpl(DomainServiceGrpc.DomainServiceStub stub, String name, int historyBytes,
      Consumer<byte[]> rawOutput) {
    this.rawOutput = rawOutput;
    Holder holder = new Holder();
    stub.openConsole(holder);
    this.requests = holder.requests;
    requests.onNext(OpenConsoleRequest.newBuilder().setName(name).setHistoryBytes(historyBytes)
        .build());
  }

  /** Captures the request side before any response can arrive. */
  private final class Holder implements ClientResponseObserver<OpenConsoleRequest,
      OpenConsoleResponse> {
    ClientCallStreamObserver<OpenConsoleRequest> requests;

    @Override
    public void beforeStart(ClientCallStreamObserver<OpenConsoleRequest> requestStream) {
      this.requests = requestStream;
    }

    @Override
    public void onNext(OpenConsoleResponse value) {
      byte[] data = value.getData().toByteArray();
      if (rawOutput != null) {
        // Raw mode: the caller keeps what it wants; buffering lines here would grow without bound
        // during a long interactive session.
        rawOutput.accept(data);
      } else {
        received(data);
      }
    }

    @Override
    public void onError(Throwable t) {
      synchronized (ConsoleImpl.this) {
        failure = CryoException.from(t);
        ConsoleImpl.this.notifyAll();
      }
      ended.completeExceptionally(CryoException.from(t));
    }

    @Override
    public void onCompleted() {
      synchronized (ConsoleImpl.this) {
        failure = new CryoException(CryoException.ErrorCode.CANCELLED, "console closed", null);
        ConsoleImpl.this.notifyAll();
      }
      ended.complete(null);
    }
  }

  private synchronized void received(byte[] data) {
    for (byte b : data) {
      if (b == '\n') {
        String line = partial.toString(StandardCharsets.UTF_8).replace("\r", "");
        partial.reset();
        lines.add(line);
        transcript.append(line).append('\n');
        if (lines.size() > MAX_LINES) {
          lines.remove(0);
          cursor = Math.max(0, cursor - 1);
        }
      } else {
        partial.write(b);
      }
    }
    notifyAll();
  }

  @Override
  public void send(String text) {
    send(text.getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public void send(byte[] data) {
    // Serialized: gRPC's request observer is not thread-safe, and closed must not change between
    // the check and the send.
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("console is closed");
      }
      requests.onNext(OpenConsoleRequest.newBuilder().setData(ByteString.copyFrom(data))
          .build());
    }
  }

  @Override
  public CompletableFuture<Void> ended() {
    return ended;
  }

  @Override
  public synchronized Matcher awaitLine(Pattern pattern, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      while (cursor < lines.size()) {
        Matcher m = pattern.matcher(lines.get(cursor++));
        if (m.find()) {
          return m;
        }
      }
      if (failure != null) {
        throw failure.explained(
            "console ended while waiting for /" + pattern + "/: " + failure.getMessage());
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new CryoException(CryoException.ErrorCode.DEADLINE_EXCEEDED, "no console line "
            + "matched /" + pattern + "/ within " + timeout + "; last lines: "
            + lines.subList(Math.max(0, lines.size() - 5), lines.size()), null);
      }
      try {
        wait(Math.max(1, left / 1_000_000));
      } catch (InterruptedException e) {
        throw CryoException.from(e);
      }
    }
  }

  @Override
  public synchronized void skipReceived() {
    cursor = lines.size();
  }

  @Override
  public synchronized String transcript() {
    return transcript.toString();
  }

  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      requests.cancel("console closed by the client", null);
    }
    ended.complete(null);
  }
}
