package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import dev.cryo.server.error.DataLossException;
import java.io.InputStream;
import java.util.ArrayDeque;

/**
 * The image chunks of a client stream as an {@link InputStream} for the restore thread. gRPC
 * delivers a chunk only after {@code request(1)}; this asks for the next one each time the
 * reader has used one up, so at most {@code window} chunks wait here.
 */
final class ChunkQueueInputStream extends InputStream {
  private final Runnable requestOne;
  /** Guarded by {@code this}. */
  private final ArrayDeque<ByteString> queue = new ArrayDeque<>();
  private boolean ended;
  private RuntimeException failure;
  /** Only touched by the reading thread. */
  private ByteString current = ByteString.EMPTY;
  private int position;

  ChunkQueueInputStream(Runnable requestOne) {
    this.requestOne = requestOne;
  }

  /** A chunk from gRPC; never blocks. */
  synchronized void offer(ByteString chunk) {
    if (!ended && failure == null) {
      queue.add(chunk);
      notifyAll();
    }
  }

  /** The client has sent its last chunk. */
  synchronized void end() {
    ended = true;
    notifyAll();
  }

  /** The stream failed (cancelled, or a protocol error); the reader gets {@code e}. */
  synchronized void fail(RuntimeException e) {
    if (failure == null) {
      failure = e;
      queue.clear();
      notifyAll();
    }
  }

  @Override
  public int read() {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) {
    if (len == 0) {
      return 0;
    }
    if (position == current.size()) {
      boolean hadChunk = !current.isEmpty();
      current = ByteString.EMPTY;
      position = 0;
      if (hadChunk) {
        requestOne.run();
      }
      ByteString next = take();
      if (next == null) {
        return -1;
      }
      current = next;
    }
    int n = Math.min(len, current.size() - position);
    current.copyTo(b, position, off, n);
    position += n;
    return n;
  }

  private synchronized ByteString take() {
    while (true) {
      if (failure != null) {
        throw failure;
      }
      ByteString next = queue.poll();
      if (next != null) {
        if (next.isEmpty()) {
          requestOne.run();
          continue;
        }
        return next;
      }
      if (ended) {
        return null;
      }
      try {
        wait();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DataLossException("interrupted while waiting for image bytes", e);
      }
    }
  }
}
