package dev.cryo.server.image;

/**
 * Times the phases of one save or restore for its log line: where the time went, in order.
 * Single-threaded, like the operation it times.
 */
public final class PhaseClock {
  private final long start = System.nanoTime();
  private final StringBuilder phases = new StringBuilder();
  private long last = start;

  /** Ends the phase running since the previous mark (or the start). */
  public void mark(String phase) {
    long now = System.nanoTime();
    phases.append(phases.isEmpty() ? "" : ", ").append(phase).append(' ')
        .append((now - last) / 1_000_000).append(" ms");
    last = now;
  }

  public java.time.Duration elapsed() {
    return java.time.Duration.ofNanos(System.nanoTime() - start);
  }

  @Override
  public String toString() {
    return (System.nanoTime() - start) / 1_000_000 + " ms (" + phases + ")";
  }
}
