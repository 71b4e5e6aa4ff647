package dev.cryo.server.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ParallelSha256Test {
  @Test
  void matchesMessageDigest_forWritesOfEverySize() throws Exception {
    byte[] data = new byte[5 * (1 << 20) + 12345];
    new Random(7).nextBytes(data);
    MessageDigest reference = MessageDigest.getInstance("SHA-256");
    reference.update(data);
    String expected = HexFormat.of().formatHex(reference.digest());
    for (int piece : new int[] {1, 4093, 1 << 20, 3 << 20, data.length}) {
      try (ParallelSha256 sha = new ParallelSha256()) {
        for (int off = 0; off < data.length; off += piece) {
          sha.update(data, off, Math.min(piece, data.length - off));
        }
        assertThat(sha.finish()).as("pieces of %d bytes", piece).isEqualTo(expected);
        assertThat(sha.count()).isEqualTo(data.length);
      }
    }
  }

  @Test
  void pieces_areHashedInOrderWithCopiedBytes_andReleasedOnceHashed() throws Exception {
    byte[] data = new byte[3 * (1 << 20) + 777];
    new Random(11).nextBytes(data);
    MessageDigest reference = MessageDigest.getInstance("SHA-256");
    reference.update(data);
    java.util.concurrent.atomic.AtomicInteger released =
        new java.util.concurrent.atomic.AtomicInteger();
    try (ParallelSha256 sha = new ParallelSha256()) {
      // Copied bytes, then a piece of two direct buffers, then copied bytes again.
      sha.update(data, 0, 1000);
      java.nio.ByteBuffer a = java.nio.ByteBuffer.allocateDirect(1 << 20)
          .put(data, 1000, 1 << 20).flip();
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(1 << 20)
          .put(data, 1000 + (1 << 20), 1 << 20).flip();
      sha.update(new ChunkedImageStream.Piece(new java.nio.ByteBuffer[] {a.asReadOnlyBuffer(),
          b.asReadOnlyBuffer()}, released::incrementAndGet));
      int off = 1000 + (2 << 20);
      sha.update(data, off, data.length - off);
      assertThat(sha.finish()).isEqualTo(HexFormat.of().formatHex(reference.digest()));
      assertThat(sha.count()).isEqualTo(data.length);
      assertThat(released).hasValue(1);
    }
  }

  @Test
  void emptyInput_isTheDigestOfNothing() {
    try (ParallelSha256 sha = new ParallelSha256()) {
      assertThat(sha.finish())
          .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
  }

  @Test
  void close_withoutFinish_stopsTheHashingThread() throws Exception {
    ParallelSha256 sha = new ParallelSha256();
    sha.update(new byte[10], 0, 10);
    sha.close();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().equals("cryo-sha256")) {
        t.join(10_000);
      }
    }
    assertThat(Thread.getAllStackTraces().keySet()).noneMatch(
        t -> t.getName().equals("cryo-sha256"));
  }
}
