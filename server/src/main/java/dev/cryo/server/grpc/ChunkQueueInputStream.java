package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.image.ChunkedImageStream;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The image chunks of a client stream for the restore thread, as a stream or piece by piece. gRPC
 * delivers a chunk only after {@code request(1)}; this asks its {@link StreamGate} for the next
 * one each time the reader has taken one, so at most the window the restore asked for first waits
 * here. While the reader waits for a chunk the gate's stall clock runs; a stalled client is
 * abandoned by the gate, whose stop action {@link #fail}s this stream. A chunk may alias gRPC's
 * receive buffers ({@link AliasingMarshaller}): each is released once read, or handed on as a
 * {@link ChunkedImageStream.Piece} whose holder releases it; {@link #close} releases what is left.
 */
final class ChunkQueueInputStream extends ChunkedImageStream {
  private static final Runnable NOTHING = () -> { };

  /** A chunk and how to give its buffers back. */
  private record Chunk(ByteString bytes, Runnable release) {}

  private final StreamGate<?> gate;
  private final long maxBytes;
  /** Bytes offered so far; guarded by {@code this}. */
  private long received;
  /** Guarded by {@code this}. */
  private final ArrayDeque<Chunk> queue = new ArrayDeque<>();
  private boolean ended;
  private boolean closed;
  private RuntimeException failure;
  /** Only touched by the reading thread. */
  private Chunk current = new Chunk(ByteString.EMPTY, NOTHING);
  private int position;

  /** @param maxBytes most image bytes one call may send */
  ChunkQueueInputStream(StreamGate<?> gate, long maxBytes) {
    this.gate = gate;
    this.maxBytes = maxBytes;
  }

  /** A chunk from gRPC, released by this stream from now on; never blocks. */
  void offer(ByteString chunk, Runnable release) {
    synchronized (this) {
      if (!ended && failure == null && !closed) {
        received += chunk.size();
        if (received > maxBytes) {
          fail(
              new CryoException(
                  Reason.IMAGE_TOO_LARGE,
                  "the image is larger than this server accepts in "
                      + "one call ("
                      + maxBytes
                      + " bytes, --max-image-bytes)"));
        } else {
          queue.add(new Chunk(chunk, release));
          notifyAll();
          return;
        }
      }
    }
    release.run();
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
      releaseQueued();
      notifyAll();
    }
  }

  /** Releases every chunk still held; later chunks are released as they arrive. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      releaseQueued();
    }
    current.release().run();
    current = new Chunk(ByteString.EMPTY, NOTHING);
    position = 0;
  }

  private void releaseQueued() {
    for (Chunk c; (c = queue.poll()) != null; ) {
      c.release().run();
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
    if (position == current.bytes().size()) {
      current.release().run();
      current = new Chunk(ByteString.EMPTY, NOTHING);
      position = 0;
      Chunk next = take();
      if (next == null) {
        return -1;
      }
      current = next;
    }
    int n = Math.min(len, current.bytes().size() - position);
    current.bytes().copyTo(b, position, off, n);
    position += n;
    return n;
  }

  @Override
  public Piece nextPiece() {
    Chunk c;
    if (position < current.bytes().size()) {
      c = new Chunk(current.bytes().substring(position), current.release());
    } else {
      current.release().run();
      c = take();
      if (c == null) {
        current = new Chunk(ByteString.EMPTY, NOTHING);
        position = 0;
        return null;
      }
    }
    current = new Chunk(ByteString.EMPTY, NOTHING);
    position = 0;
    return new Piece(c.bytes().asReadOnlyByteBufferList().toArray(ByteBuffer[]::new),
        c.release());
  }

  /** The next non-empty chunk, asking gRPC for one more; null at the end of the stream. */
  private synchronized Chunk take() {
    boolean waited = false;
    try {
      while (true) {
        if (failure != null) {
          throw failure;
        }
        Chunk next = queue.poll();
        if (next != null) {
          gate.request(1);
          if (next.bytes().isEmpty()) {
            next.release().run();
            continue;
          }
          return next;
        }
        if (ended) {
          return null;
        }
        if (!waited) {
          waited = true;
          gate.awaitingClient(true);
        }
        // Woken by offer, end or fail (the gate's stop action when the client stalls).
        wait();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DataLossException("interrupted while waiting for image bytes", e);
    } finally {
      if (waited) {
        gate.awaitingClient(false);
      }
    }
  }
}
