package dev.cryo.server.grpc;

import java.time.Duration;

/**
 * Limits on client image streams, so one client cannot hold a half-restored QEMU forever or fill
 * the host's disks.
 *
 * @param stallTimeout how long a restore waits for the client's next chunk before it gives up
 *     (DEADLINE_EXCEEDED; the half-restored QEMU is killed)
 * @param maxImageBytes most image bytes one restore call may send (RESOURCE_EXHAUSTED past it)
 */
public record StreamLimits(Duration stallTimeout, long maxImageBytes) {
  public static final StreamLimits DEFAULT = new StreamLimits(Duration.ofMinutes(5), 1L << 40);

  public StreamLimits {
    if (stallTimeout.isNegative() || stallTimeout.isZero()) {
      throw new IllegalArgumentException("stallTimeout must be positive, got " + stallTimeout);
    }
    if (maxImageBytes <= 0) {
      throw new IllegalArgumentException("maxImageBytes must be positive, got " + maxImageBytes);
    }
  }
}
