package dev.cryo.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress of a long transfer (save, restore, backup) on stderr: on a terminal one line redrawn
 * in place with a bar, bytes, rate and ETA; otherwise a plain line every few seconds, so logs stay
 * readable. Thread-safe: {@link #advance} may be called from a gRPC thread.
 *
 * <p>Nothing is printed until the server has {@linkplain #accepted() accepted} the call (its
 * first answer): a call refused at once (unknown domain, read-only role, bad credentials) shows
 * only its error, not a "0 B in 0:00" line. The clock starts with the first byte counted or at
 * acceptance, whichever comes first.
 *
 * <pre>{@code
 * try (Progress p = Progress.onStderr("saving vm1", totalBytes)) {
 *   ... on the server's first answer: p.accepted() ...
 *   ... p.advance(chunk.length) ...
 * }
 * }</pre>
 */
final class Progress implements AutoCloseable {
  private static final long REDRAW_NANOS = 200_000_000L;
  private static final long PLAIN_NANOS = 5_000_000_000L;
  private static final int BAR = 24;

  private final String label;
  private final long total;
  private final boolean terminal;
  private final PrintStream err;
  private final LongSupplier nanos;
  /** Guarded by {@code this}. */
  private boolean accepted;
  /** When the first byte was counted or the call accepted, whichever came first; or -1. */
  private long start = -1;
  private long done;
  private long lastDraw;
  private boolean closed;

  Progress(String label, long totalBytes, boolean terminal, PrintStream err, LongSupplier nanos) {
    this.label = label;
    this.total = totalBytes;
    this.terminal = terminal;
    this.err = err;
    this.nanos = nanos;
  }

  /**
   * Progress on this process's stderr.
   *
   * @param totalBytes the expected size, or -1 when unknown (a stream)
   */
  static Progress onStderr(String label, long totalBytes) {
    return new Progress(label, totalBytes, System.console() != null, System.err,
        System::nanoTime);
  }

  /**
   * The server has answered: from now on lines are drawn, and {@link #close} prints the summary.
   * Idempotent.
   */
  synchronized void accepted() {
    if (!accepted) {
      accepted = true;
      lastDraw = nanos.getAsLong();
      if (start < 0) {
        start = lastDraw;
      }
    }
  }

  /** Whether {@link #accepted()} was called. */
  synchronized boolean isAccepted() {
    return accepted;
  }

  /**
   * Counts {@code bytes} more as transferred; redraws when it is time, once the call was
   * accepted.
   */
  synchronized void advance(long bytes) {
    done += bytes;
    long now = nanos.getAsLong();
    if (start < 0) {
      start = now;
    }
    if (!accepted) {
      return;
    }
    if (!closed && now - lastDraw >= (terminal ? REDRAW_NANOS : PLAIN_NANOS)) {
      lastDraw = now;
      if (terminal) {
        err.print("\r" + line(now) + "\u001b[K");
      } else {
        err.println(line(now));
      }
      err.flush();
    }
  }

  /** Bytes counted so far. */
  synchronized long done() {
    return done;
  }

  /**
   * Prints the final line: total, time and mean rate; nothing for a call the server never
   * accepted.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (!accepted) {
      return;
    }
    long elapsed = nanos.getAsLong() - start;
    String summary = String.format(Locale.ROOT, "%s: %s in %s (%s/s)", label, bytes(done),
        clock(elapsed), bytes(rate(done, elapsed)));
    err.println(terminal ? "\r" + summary + "\u001b[K" : summary);
    err.flush();
  }

  /** The progress line at time {@code now}, without control characters. */
  synchronized String line(long now) {
    long elapsed = now - start;
    long rate = rate(done, elapsed);
    StringBuilder b = new StringBuilder(label).append("  ");
    if (total > 0) {
      int filled = (int) Math.min(BAR, done * BAR / total);
      b.append('[').append("#".repeat(filled)).append(".".repeat(BAR - filled)).append("] ");
      b.append(String.format(Locale.ROOT, "%3d%%  ", Math.min(100, done * 100 / total)));
      b.append(bytes(done)).append(" / ").append(bytes(total));
    } else {
      b.append(bytes(done));
    }
    b.append("  ").append(bytes(rate)).append("/s");
    if (total > 0 && rate > 0 && done < total) {
      b.append("  ETA ").append(clock((total - done) * 1_000_000_000L / rate));
    }
    return b.toString();
  }

  private static long rate(long bytes, long nanos) {
    return nanos <= 0 ? 0 : (long) (bytes / (nanos / 1e9));
  }

  /** 1536 -> "1.5 KiB". */
  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double v = n;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }

  /** Nanoseconds as m:ss, or h:mm:ss past an hour. */
  static String clock(long nanos) {
    long s = Math.max(0, nanos / 1_000_000_000L);
    return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
        : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
  }
}
