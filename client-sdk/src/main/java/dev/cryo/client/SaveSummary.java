package dev.cryo.client;

import java.time.Duration;

/**
 * The outcome of a save.
 *
 * @param imageBytes size of the whole image
 * @param payloadBytes stored (compressed) payload bytes
 * @param migrationBytes bytes of QEMU's migration stream before compression
 * @param sha256 SHA-256 of the stored payload, lower-case hex
 * @param downtime how long the guest's CPUs were stopped by the save
 * @param serverPath the file written on the server, or null for a streamed save
 * @param domain the domain after the save
 * @param imageXml the image's domain XML with its integrity record, as an image file holds it;
 *     {@link Images#save(String, java.nio.file.Path, SaveOptions)} writes it into the local file
 *     so that the file verifies itself on restore. Empty from a server older than this field.
 */
public record SaveSummary(long imageBytes, long payloadBytes, long migrationBytes, String sha256,
    Duration duration, Duration downtime, String serverPath, Domain domain, String imageXml) {}
