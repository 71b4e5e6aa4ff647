package dev.cryo.client;

/**
 * The facts of a save image.
 *
 * @param xml the domain XML stored in the image
 * @param payloadBytes stored payload bytes, 0 when read from the first bytes of an image
 * @param sha256 the recorded digest, empty for images without one (written by libvirt)
 */
public record ImageInfo(String xml, boolean wasRunning, ImageCompression compression,
    long payloadOffset, long payloadBytes, String sha256, boolean libvirtCompatible) {}
