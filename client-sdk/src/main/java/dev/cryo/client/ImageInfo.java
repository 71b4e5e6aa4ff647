package dev.cryo.client;

/**
 * The facts of a save image.
 *
 * @param xml the domain XML stored in the image
 * @param payloadBytes stored payload bytes, 0 when read from the first bytes of an image
 * @param sha256 the recorded digest, empty for images without one (written by libvirt) and for
 *     the first bytes of an image whose digest is in its trailer only
 * @param libvirtCompatible whether some libvirt release can restore the image
 * @param verifiable whether a restore can check the payload against a digest: false for images
 *     written by libvirt or by a Cryo older than digest trailers
 * @param libvirtRestorableBy which libvirt restores the image, in words for people
 */
public record ImageInfo(String xml, boolean wasRunning, ImageCompression compression,
    long payloadOffset, long payloadBytes, String sha256, boolean libvirtCompatible,
    boolean verifiable, String libvirtRestorableBy) {}
