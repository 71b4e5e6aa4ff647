package dev.cryo.server.image;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A SHA-256 computed on its own thread, so an image's bytes move to QEMU or the client while the
 * previous ones are hashed: the hash costs about as much CPU as the copy it would otherwise
 * stall. {@link #update} copies into one of a few fixed buffers and returns; when the hashing
 * thread is that far behind it waits, so memory stays at {@code BUFFERS × BUFFER_BYTES}.
 *
 * <p>One producer thread calls {@link #update} and then {@link #finish}, or {@link #close} to
 * abandon the digest.
 */
public final class ParallelSha256 implements AutoCloseable {
  private static final int BUFFERS = 4;
  private static final int BUFFER_BYTES = 1 << 20;
  private static final Slice END = new Slice(new byte[0], 0, null);

  /** A full buffer of ours (returned to {@code free}), or a caller's piece (released). */
  private record Slice(byte[] bytes, int length, ChunkedImageStream.Piece piece) {}

  private final BlockingQueue<Slice> full = new ArrayBlockingQueue<>(BUFFERS + 1);
  private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
  private final CompletableFuture<byte[]> digest = new CompletableFuture<>();
  /** Started by the first byte: an image read only for its header costs no thread. */
  private Thread thread;
  /** Producer side only. */
  private byte[] current;
  private int used;
  private long count;
  private boolean ended;

  public ParallelSha256() {
    for (int i = 0; i < BUFFERS; i++) {
      free.add(new byte[BUFFER_BYTES]);
    }
  }

  private void start() {
    thread = new Thread(this::run, "cryo-sha256");
    thread.setDaemon(true);
    thread.start();
  }

  private void run() {
    MessageDigest sha = HashingStreams.sha256();
    try {
      while (true) {
        Slice s = full.take();
        if (s == END) {
          digest.complete(sha.digest());
          return;
        }
        if (s.piece() != null) {
          try {
            for (ByteBuffer b : s.piece().views()) {
              sha.update(b);
            }
          } finally {
            s.piece().release().run();
          }
        } else {
          sha.update(s.bytes(), 0, s.length());
          free.add(s.bytes());
        }
      }
    } catch (InterruptedException e) {
      digest.cancel(false);
    } catch (RuntimeException | Error e) {
      digest.completeExceptionally(e);
    } finally {
      // Abandoned or failed: the pieces still queued go back to the transport.
      for (Slice s; (s = full.poll()) != null; ) {
        if (s.piece() != null) {
          s.piece().release().run();
        }
      }
    }
  }

  /** Adds {@code len} bytes of {@code b}; they are copied, so {@code b} may be reused at once. */
  public void update(byte[] b, int off, int len) {
    if (thread == null) {
      start();
    }
    count += len;
    while (len > 0) {
      if (current == null) {
        current = take(free);
        used = 0;
      }
      int n = Math.min(len, current.length - used);
      System.arraycopy(b, off, current, used, n);
      used += n;
      off += n;
      len -= n;
      if (used == current.length) {
        handOver();
      }
    }
  }

  /**
   * Adds a piece without copying it: the hashing thread reads its buffers and then releases it.
   * The piece is released whatever happens, also when this throws.
   */
  void update(ChunkedImageStream.Piece piece) {
    if (thread == null) {
      start();
    }
    if (current != null && used > 0) {
      handOver();
    }
    count += piece.size();
    Slice s = new Slice(null, 0, piece);
    try {
      while (!full.offer(s, 1, java.util.concurrent.TimeUnit.SECONDS)) {
        if (digest.isDone()) {
          throw new IllegalStateException("the hashing thread ended early");
        }
      }
    } catch (InterruptedException e) {
      piece.release().run();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while hashing", e);
    } catch (RuntimeException e) {
      piece.release().run();
      throw e;
    }
    if (digest.isDone() && full.remove(s)) {
      // The thread ended between the offer and now; nobody else will release it.
      piece.release().run();
    }
  }

  /** Bytes added so far. */
  long count() {
    return count;
  }

  /** Waits for the hashing thread to catch up and returns the digest in lower-case hex. */
  public String finish() {
    if (thread == null) {
      start();
    }
    if (!ended) {
      ended = true;
      if (current != null && used > 0) {
        handOver();
      }
      put(END);
    }
    try {
      return HashingStreams.hex(digest.get());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      thread.interrupt();
      throw new IllegalStateException("interrupted while hashing", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("hashing failed", e.getCause());
    }
  }

  /** Stops the hashing thread if {@link #finish} was not reached. */
  @Override
  public void close() {
    if (thread != null && !digest.isDone()) {
      thread.interrupt();
    }
  }

  private void handOver() {
    put(new Slice(current, used, null));
    current = null;
    used = 0;
  }

  private void put(Slice s) {
    try {
      full.put(s);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while hashing", e);
    }
  }

  private byte[] take(BlockingQueue<byte[]> q) {
    try {
      while (true) {
        byte[] b = q.poll(1, java.util.concurrent.TimeUnit.SECONDS);
        if (b != null) {
          return b;
        }
        if (digest.isDone()) {
          throw new IllegalStateException("the hashing thread ended early");
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while hashing", e);
    }
  }
}
