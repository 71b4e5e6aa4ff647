package dev.cryo.server.image;

import java.io.InputStream;
import java.nio.ByteBuffer;

/**
 * An image arriving from a client in chunks: readable byte by byte like any stream (the header,
 * the XML, a compressed payload), and, for a raw payload, chunk by chunk as the buffers the
 * transport received, so the bytes reach QEMU's socket and the digest without a copy.
 */
public abstract class ChunkedImageStream extends InputStream {
  /**
   * The rest of the chunk {@link #read} was in, else the next chunk; null at the end of the
   * image. The caller owns the piece and must {@link Piece#release} it once done with it.
   */
  public abstract Piece nextPiece();

  /**
   * Bytes of the image, held in the transport's buffers until {@link #release}.
   *
   * @param buffers read-only views; callers read duplicates, so a piece can be read twice
   */
  public record Piece(ByteBuffer[] buffers, Runnable release) {
    public long size() {
      long n = 0;
      for (ByteBuffer b : buffers) {
        n += b.remaining();
      }
      return n;
    }

    /** Fresh views of the buffers, positioned at their start. */
    public ByteBuffer[] views() {
      ByteBuffer[] v = new ByteBuffer[buffers.length];
      for (int i = 0; i < v.length; i++) {
        v[i] = buffers[i].duplicate();
      }
      return v;
    }
  }
}
