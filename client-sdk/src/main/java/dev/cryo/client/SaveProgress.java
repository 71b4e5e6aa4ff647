package dev.cryo.client;

/**
 * Where a save is.
 *
 * @param phase SETUP, TRANSFER or FINISH
 * @param processedBytes bytes of QEMU's migration stream so far
 * @param estimatedTotalBytes estimated total (guest memory)
 * @param bytesPerSecond recent rate
 */
public record SaveProgress(String phase, long processedBytes, long estimatedTotalBytes,
    double bytesPerSecond) {}
