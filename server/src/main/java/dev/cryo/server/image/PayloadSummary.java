package dev.cryo.server.image;

/**
 * What went through an image's payload.
 *
 * @param sha256 lower-case hex SHA-256 of the stored (compressed) payload bytes
 * @param storedBytes payload bytes as stored (after compression)
 * @param rawBytes bytes of the QEMU migration stream (before compression)
 */
public record PayloadSummary(String sha256, long storedBytes, long rawBytes) {}
