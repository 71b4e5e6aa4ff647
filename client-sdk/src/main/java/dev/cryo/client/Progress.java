package dev.cryo.client;

import java.util.OptionalDouble;

/**
 * How far a long {@link Operation} is.
 *
 * @param phase what it does now: a save's {@code SETUP}, {@code TRANSFER} or {@code FINISH}; a
 *     restore upload's {@code TRANSFER}; a snapshot job's {@code memory}, {@code disks}, ...
 *     (as {@link DomainJob#phase()}); {@code STARTING} before the first report
 * @param doneBytes bytes done so far in this phase: a save's migration bytes, a restore's bytes
 *     sent, a backup's data bytes received
 * @param totalBytes bytes to do in this phase, or 0 when not known (a save's total is an
 *     estimate: the guest's memory)
 */
public record Progress(String phase, long doneBytes, long totalBytes) {
  /** Before the first report. */
  public static final Progress STARTING = new Progress("STARTING", 0, 0);

  /** Fraction done in this phase, 0..1, or empty when the total is not known. */
  public OptionalDouble fraction() {
    return totalBytes <= 0 ? OptionalDouble.empty()
        : OptionalDouble.of(Math.min(1.0, (double) doneBytes / totalBytes));
  }
}
