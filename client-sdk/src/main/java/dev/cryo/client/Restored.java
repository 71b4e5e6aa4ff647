package dev.cryo.client;

import java.time.Duration;
import java.util.List;

/**
 * The outcome of a restore.
 *
 * @param verified whether the image's payload matched its SHA-256 digest
 * @param warnings e.g. that an image written by libvirt had no digest to check
 */
public record Restored(Domain domain, List<String> warnings, boolean verified, long payloadBytes,
    Duration duration) {}
