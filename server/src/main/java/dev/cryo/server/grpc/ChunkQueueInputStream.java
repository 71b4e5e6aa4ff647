package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.error.ResourceExhaustedException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayDeque;

/**
 * The image chunks of a client stream as an {@link InputStream} for the restore thread. gRPC
 * delivers a chunk only after {@code request(1)}; this asks for the next one each time the
 * reader has used one up, so at most {@code window} chunks wait here.
 */
final class ChunkQueueInputStream extends InputStream {
  private final Runnable requestOne;
  private final Duration stallTimeout;
  private final long maxBytes;
  /** Bytes offered so far; guarded by {@code this}. */
  private long received;
  /** Guarded by {@code this}. */
  private final ArrayDeque<ByteString> queue = new ArrayDeque<>();
  private boolean ended;
  private RuntimeException failure;
  /** Only touched by the reading thread. */
  private ByteString current = ByteString.EMPTY;
  private int position;

  /**
   * @param stallTimeout how long the reader waits for a chunk before it gives up on the client
   * @param maxBytes most image bytes one call may send
   */
  ChunkQueueInputStream(Runnable requestOne, Duration stallTimeout, long maxBytes) {
    this.requestOne = requestOne;
    this.stallTimeout = stallTimeout;
    this.maxBytes = maxBytes;
  }

  /** A chunk from gRPC; never blocks. */
  synchronized void offer(ByteString chunk) {
    if (!ended && failure == null) {
      received += chunk.size();
      if (received > maxBytes) {
        fail(new ResourceExhaustedException("the image is larger than this server accepts in "
            + "one call (" + maxBytes + " bytes, --max-image-bytes)"));
        return;
      }
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
    long deadline = System.nanoTime() + stallTimeout.toNanos();
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
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        // A client that stops sending would otherwise hold a half-restored QEMU forever.
        fail(new DeadlineExceededException("the client sent no image bytes for "
            + stallTimeout.toSeconds() + " s; the restore was abandoned"));
        continue;
      }
      try {
        wait(Math.max(1, left / 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DataLossException("interrupted while waiting for image bytes", e);
      }
    }
  }
}
