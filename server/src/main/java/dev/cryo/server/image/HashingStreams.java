package dev.cryo.server.image;

import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Streams that count and SHA-256 the bytes passing through, without buffering them. */
final class HashingStreams {
  private HashingStreams() {}

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  static String hex(byte[] digest) {
    return HexFormat.of().formatHex(digest);
  }

  /** Counts and hashes what is written; {@link #close} does not close the target. */
  static final class Out extends FilterOutputStream {
    private final ParallelSha256 digest;
    private long count;

    /** @param digest null to count only */
    Out(OutputStream out, ParallelSha256 digest) {
      super(out);
      this.digest = digest;
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      if (digest != null) {
        digest.update(new byte[] {(byte) b}, 0, 1);
      }
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      if (digest != null) {
        digest.update(b, off, len);
      }
      count += len;
    }

    long count() {
      return count;
    }

    @Override
    public void close() throws IOException {
      out.flush();
    }
  }

  /** Passes what is read to a sink (a digest, or a {@link HeldTail} in front of one). */
  static final class In extends FilterInputStream {
    private final HeldTail.Sink digest;

    In(InputStream in, HeldTail.Sink digest) {
      super(in);
      this.digest = digest;
    }

    @Override
    public int read() throws IOException {
      int b = in.read();
      if (b >= 0) {
        digest.accept(new byte[] {(byte) b}, 0, 1);
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n > 0) {
        digest.accept(b, off, n);
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      byte[] buf = new byte[(int) Math.min(n, 8192)];
      int r = read(buf, 0, buf.length);
      return Math.max(r, 0);
    }

    @Override
    public boolean markSupported() {
      return false;
    }
  }
}
