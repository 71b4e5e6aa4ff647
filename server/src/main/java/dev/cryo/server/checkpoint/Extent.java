package dev.cryo.server.checkpoint;

/**
 * A run of bytes of one disk in a streamed backup.
 *
 * @param disk target device, e.g. {@code vda}
 * @param offset byte offset in the disk
 * @param length bytes covered
 * @param zero true when the range reads as zeros; {@code data} is then empty
 * @param data the bytes ({@code length} of them) unless {@code zero}
 */
public record Extent(String disk, long offset, long length, boolean zero, byte[] data) {}
