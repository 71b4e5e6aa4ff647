package dev.cryo.client;

/**
 * A run of bytes of one disk in a streamed backup.
 *
 * @param disk target device, e.g. {@code vda}
 * @param offset byte offset in the disk
 * @param length bytes covered
 * @param zero the range reads as zeros ({@code data} is then empty)
 * @param data the bytes unless {@code zero}; do not modify
 */
public record BackupExtent(String disk, long offset, long length, boolean zero, byte[] data) {}
