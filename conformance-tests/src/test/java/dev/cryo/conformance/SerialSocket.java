package dev.cryo.conformance;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A guest's serial port under libvirt ({@code <serial type='unix'><source mode='bind'/>}), as the
 * Unix socket QEMU listens on. QEMU accepts a new connection after the previous one closed, so a
 * test may connect again later to the same running guest.
 */
final class SerialSocket implements AutoCloseable {
  private final SocketChannel ch;
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

  SerialSocket(Path path) throws IOException {
    ch = SocketChannel.open(UnixDomainSocketAddress.of(path));
    Thread reader = new Thread(() -> {
      StringBuilder line = new StringBuilder();
      ByteBuffer buf = ByteBuffer.allocate(4096);
      try {
        while (ch.read(buf) >= 0) {
          buf.flip();
          while (buf.hasRemaining()) {
            char c = (char) (buf.get() & 0xff);
            if (c == '\n') {
              lines.add(line.toString());
              line.setLength(0);
            } else if (c != '\r') {
              line.append(c);
            }
          }
          buf.clear();
        }
      } catch (IOException e) {
        // Closed.
      }
    }, "serial-" + path.getFileName());
    reader.setDaemon(true);
    reader.start();
  }

  void send(String line) throws IOException {
    ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII));
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /** The next line matching {@code p}; lines before it are dropped. */
  Matcher await(Pattern p, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (true) {
      long left = deadline - System.nanoTime();
      String line = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
      if (line == null) {
        throw new AssertionError("no serial line matching " + p + " within " + seconds + " s");
      }
      Matcher m = p.matcher(line);
      if (m.find()) {
        return m;
      }
    }
  }

  @Override
  public void close() throws IOException {
    ch.close();
  }
}
