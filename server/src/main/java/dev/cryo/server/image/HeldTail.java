package dev.cryo.server.image;

import java.util.Arrays;

/**
 * Holds back the last bytes written and passes the older ones on: the tail of an image may turn
 * out to be its digest trailer, which neither QEMU nor the digest may see.
 */
final class HeldTail {
  /** Where bytes go once they are no longer among the last ones. */
  interface Sink {
    void accept(byte[] b, int off, int len);
  }

  private final byte[] held;
  private final Sink sink;
  private int size;
  private long total;

  HeldTail(int capacity, Sink sink) {
    this.held = new byte[capacity];
    this.sink = sink;
  }

  void write(byte[] b, int off, int len) {
    total += len;
    if (len >= held.length) {
      if (size > 0) {
        sink.accept(held, 0, size);
      }
      sink.accept(b, off, len - held.length);
      System.arraycopy(b, off + len - held.length, held, 0, held.length);
      size = held.length;
      return;
    }
    int over = size + len - held.length;
    if (over > 0) {
      sink.accept(held, 0, over);
      System.arraycopy(held, over, held, 0, size - over);
      size -= over;
    }
    System.arraycopy(b, off, held, size, len);
    size += len;
  }

  /** The bytes held back, oldest first. */
  byte[] bytes() {
    return Arrays.copyOf(held, size);
  }

  /** All bytes written, held or passed on. */
  long total() {
    return total;
  }
}
