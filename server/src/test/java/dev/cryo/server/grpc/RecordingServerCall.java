package dev.cryo.server.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayList;
import java.util.List;

/**
 * A server call for unit tests of stream code: the test says when the transport is ready and
 * when the client cancels; the call records what the server sent, asked for and ended with, and
 * refuses what grpc-java refuses (sending after the end).
 */
final class RecordingServerCall<T> extends ServerCallStreamObserver<T> {
  final List<T> sent = new ArrayList<>();
  int requested;
  boolean autoRequest = true;
  int onReadyThreshold = 32 << 10;
  /** The status the server ended the call with; null while it runs. */
  Status status;
  private boolean ready = true;
  private boolean cancelled;
  private Runnable onReady = () -> { };
  private Runnable onCancel = () -> { };

  /** The transport can take messages again (true) or not (false); true runs the handler. */
  void ready(boolean now) {
    synchronized (this) {
      ready = now;
    }
    if (now) {
      onReady.run();
    }
  }

  /** The client cancels, as grpc-java reports it. */
  void clientCancels() {
    synchronized (this) {
      cancelled = true;
    }
    onCancel.run();
  }

  synchronized List<T> sent() {
    return List.copyOf(sent);
  }

  synchronized Status status() {
    return status;
  }

  @Override
  public synchronized boolean isCancelled() {
    return cancelled;
  }

  @Override
  public void setOnCancelHandler(Runnable handler) {
    onCancel = handler;
  }

  @Override
  public void setOnReadyThreshold(int bytes) {
    onReadyThreshold = bytes;
  }

  @Override
  public void setCompression(String compression) {}

  @Override
  public void disableAutoRequest() {
    autoRequest = false;
  }

  @Override
  public void disableAutoInboundFlowControl() {
    autoRequest = false;
  }

  @Override
  public synchronized boolean isReady() {
    return ready && status == null && !cancelled;
  }

  @Override
  public void setOnReadyHandler(Runnable handler) {
    onReady = handler;
  }

  @Override
  public synchronized void request(int count) {
    requested += count;
  }

  @Override
  public void setMessageCompression(boolean enable) {}

  @Override
  public synchronized void onNext(T value) {
    if (status != null) {
      throw new IllegalStateException("sent after the call ended");
    }
    sent.add(value);
  }

  @Override
  public synchronized void onError(Throwable t) {
    if (status != null) {
      throw new IllegalStateException("ended twice");
    }
    status = Status.fromThrowable(t);
  }

  @Override
  public synchronized void onCompleted() {
    if (status != null) {
      throw new IllegalStateException("ended twice");
    }
    status = Status.OK;
  }
}
