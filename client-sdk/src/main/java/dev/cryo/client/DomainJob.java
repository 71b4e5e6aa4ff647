package dev.cryo.client;

import java.time.Duration;
import java.time.Instant;
import java.util.OptionalDouble;

/**
 * The long operation (job) holding a domain, as {@code virsh domjobinfo} shows it. From {@link
 * Domains#job} and {@link Domains#abortJob}.
 *
 * @param operation what runs: "snapshot create", "snapshot revert", "snapshot delete", "save",
 *     "restore", "start", "checkpoint create", "backup", ...
 * @param started when the job took the domain
 * @param elapsed time since then, at the time of the call
 * @param phase what it does now: "memory" (saving or loading guest memory), "disks",
 *     "memory+disks", "merge"; for a backup "copy" (QEMU copies the disks) then, streamed, "send";
 *     empty before its first report
 * @param processedBytes bytes done so far in this phase; 0 when it has nothing to count
 * @param totalBytes bytes to do in this phase; 0 when not known
 * @param abortable whether {@link Domains#abortJob} can stop it now
 * @param abortRequested whether an abort was asked and is being carried out
 */
public record DomainJob(String operation, Instant started, Duration elapsed, String phase,
    long processedBytes, long totalBytes, boolean abortable, boolean abortRequested) {

  /** Fraction done in this phase, 0..1, or empty when the total is not known. */
  public OptionalDouble fraction() {
    return totalBytes <= 0 ? OptionalDouble.empty()
        : OptionalDouble.of(Math.min(1.0, (double) processedBytes / totalBytes));
  }
}
