package dev.cryo.server.domain;

import java.time.Duration;
import java.time.Instant;

/**
 * A domain job as GetDomainJob reports it, like libvirt's virDomainGetJobStats.
 *
 * @param operation what runs, e.g. "snapshot create", "save", "snapshot revert"
 * @param started when it took the domain
 * @param elapsed time since then
 * @param phase what it does now, e.g. "memory", "disks", "commit"; empty before its first report
 * @param processedBytes bytes done so far (0 when it has nothing to count)
 * @param totalBytes bytes to do, or 0 when not known
 * @param abortable whether AbortDomainJob can stop it now
 * @param abortRequested whether an abort was asked and is being carried out
 */
public record JobInfo(String operation, Instant started, Duration elapsed, String phase,
    long processedBytes, long totalBytes, boolean abortable, boolean abortRequested) {}
