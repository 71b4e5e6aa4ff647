package dev.cryo.server.grpc;

import java.time.Duration;

/**
 * The limits every streaming call is held to ({@link StreamGate}), so that one client cannot hold
 * a paused guest, a domain's job, a half-restored QEMU or the server's memory by not reading or
 * not sending.
 *
 * @param stallTimeout how long the server waits on a client (to read what it was sent, or to
 *     send its next message) before it abandons the call with DEADLINE_EXCEEDED and stops the
 *     work behind it ({@code --stream-stall-seconds})
 * @param bufferBytes most bytes one call may hold in the server waiting for its client: half in
 *     the transport, half in the call's queue; a queue that would hold more ends the call with
 *     RESOURCE_EXHAUSTED ({@code --stream-buffer-bytes})
 * @param maxImageBytes most image bytes one restore call may send (RESOURCE_EXHAUSTED past it)
 */
public record StreamLimits(Duration stallTimeout, long bufferBytes, long maxImageBytes) {
  /** 8 MiB: 4 MiB in the transport keeps a save's pipe full (16 chunks), 4 MiB of events. */
  public static final long DEFAULT_BUFFER_BYTES = 8L << 20;
  /** A floor at which events and console output still pipeline (a message or two each half). */
  public static final long MIN_BUFFER_BYTES = 4L << 10;
  public static final StreamLimits DEFAULT = new StreamLimits(Duration.ofMinutes(5),
      DEFAULT_BUFFER_BYTES, 1L << 40);

  public StreamLimits {
    if (stallTimeout.isNegative() || stallTimeout.isZero()) {
      throw new IllegalArgumentException("stallTimeout must be positive, got " + stallTimeout);
    }
    if (bufferBytes < MIN_BUFFER_BYTES) {
      throw new IllegalArgumentException("bufferBytes must be at least " + MIN_BUFFER_BYTES
          + ", got " + bufferBytes);
    }
    if (maxImageBytes <= 0) {
      throw new IllegalArgumentException("maxImageBytes must be positive, got " + maxImageBytes);
    }
  }
}
