package dev.cryo.server.qemu;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guest's serial port, as QEMU exposes it on {@link RunDir#consoleSocket()}. One connection
 * per running guest, owned by the server; any number of attached viewers share it. Keeps the most
 * recent output in memory for viewers that attach later, and keeps QEMU's own log file of the port
 * ({@link RunDir#serialLog()}) bounded by rotating it.
 */
public final class SerialConsole implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SerialConsole.class);
  /** Most history a viewer can ask for, in bytes. */
  public static final int MAX_HISTORY_BYTES = 1 << 20;
  private static final long LOG_ROTATE_BYTES = 8L << 20;

  private final RunDir run;
  private final SocketChannel channel;
  private final Thread reader;
  private final List<Consumer<byte[]>> viewers = new CopyOnWriteArrayList<>();
  /** Ring of recent output; guarded by {@code this}. */
  private final byte[] ring = new byte[MAX_HISTORY_BYTES];
  /** Total bytes ever put in the ring; guarded by {@code this}. */
  private long written;
  private volatile boolean closed;

  private SerialConsole(RunDir run, SocketChannel channel) {
    this.run = run;
    this.channel = channel;
    this.reader = new Thread(this::readLoop, "serial-" + run.path().getFileName());
    this.reader.setDaemon(true);
  }

  /**
   * Connects to a running QEMU's serial socket. History starts with the tail of the log file, so
   * a server that re-attaches after a restart still shows what the guest printed before.
   */
  public static SerialConsole connect(RunDir run) throws IOException {
    SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      channel.connect(UnixDomainSocketAddress.of(run.consoleSocket()));
    } catch (IOException e) {
      channel.close();
      throw e;
    }
    SerialConsole console = new SerialConsole(run, channel);
    console.seedFromLog();
    console.reader.start();
    return console;
  }

  /** Moves the previous run's serial log aside, so the new run's log starts empty. */
  public static void rotateLog(RunDir run) throws IOException {
    if (Files.exists(run.serialLog())) {
      Files.move(run.serialLog(), previousLog(run), StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static Path previousLog(RunDir run) {
    return run.serialLog().resolveSibling(run.serialLog().getFileName() + ".1");
  }

  /**
   * Attaches a viewer: returns up to {@code historyBytes} of recent output, and from then on
   * passes every chunk the guest prints to {@code output}, on the console's reader thread (so it
   * must not block). Nothing is lost or repeated between the history and the first live chunk.
   */
  public synchronized Attachment attach(int historyBytes, Consumer<byte[]> output) {
    byte[] history = history(Math.min(Math.max(historyBytes, 0), MAX_HISTORY_BYTES));
    viewers.add(output);
    return new Attachment(history, () -> viewers.remove(output));
  }

  /** What {@link #attach} returns: the history, and how to detach. */
  public record Attachment(byte[] history, Runnable detach) {}

  /** Sends bytes to the guest's serial port. */
  public void write(byte[] data) throws IOException {
    ByteBuffer buf = ByteBuffer.wrap(data);
    synchronized (channel) {
      while (buf.hasRemaining()) {
        channel.write(buf);
      }
    }
  }

  private synchronized byte[] history(int max) {
    int n = (int) Math.min(max, Math.min(written, ring.length));
    byte[] out = new byte[n];
    long start = written - n;
    for (int i = 0; i < n; i++) {
      out[i] = ring[(int) ((start + i) % ring.length)];
    }
    return out;
  }

  private synchronized void record(byte[] chunk) {
    for (byte b : chunk) {
      ring[(int) (written++ % ring.length)] = b;
    }
    for (Consumer<byte[]> viewer : viewers) {
      try {
        viewer.accept(chunk);
      } catch (RuntimeException e) {
        log.warn("console viewer failed; detaching it", e);
        viewers.remove(viewer);
      }
    }
  }

  private void seedFromLog() {
    try (RandomAccessFile f = new RandomAccessFile(run.serialLog().toFile(), "r")) {
      long start = Math.max(0, f.length() - ring.length);
      byte[] tail = new byte[(int) (f.length() - start)];
      f.seek(start);
      f.readFully(tail);
      record(tail);
    } catch (IOException e) {
      // No log yet: nothing to show.
    }
  }

  private void readLoop() {
    ByteBuffer buf = ByteBuffer.allocate(8192);
    long sinceRotateCheck = 0;
    try {
      while (!closed) {
        buf.clear();
        int n = channel.read(buf);
        if (n < 0) {
          break;
        }
        record(Arrays.copyOf(buf.array(), n));
        sinceRotateCheck += n;
        if (sinceRotateCheck > 64 * 1024) {
          sinceRotateCheck = 0;
          rotateIfLarge();
        }
      }
    } catch (IOException e) {
      if (!closed) {
        log.debug("serial console of {} closed: {}", run.path(), e.toString());
      }
    }
  }

  /**
   * QEMU opens the log with O_APPEND ({@code logappend=on}), so truncating it in place is safe:
   * its next write lands at the new end. Bytes written between the copy and the truncation are
   * lost from the file (not from viewers), which is the price of not stopping the guest.
   */
  private void rotateIfLarge() {
    try {
      if (Files.size(run.serialLog()) > LOG_ROTATE_BYTES) {
        Files.copy(run.serialLog(), previousLog(run), StandardCopyOption.REPLACE_EXISTING);
        try (RandomAccessFile f = new RandomAccessFile(run.serialLog().toFile(), "rw")) {
          f.setLength(0);
        }
      }
    } catch (IOException e) {
      log.warn("could not rotate {}", run.serialLog(), e);
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      channel.close();
    } catch (IOException e) {
      log.debug("closing serial console", e);
    }
    viewers.clear();
  }
}
