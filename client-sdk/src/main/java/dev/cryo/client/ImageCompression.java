package dev.cryo.client;

/** How a save image's payload is compressed. */
public enum ImageCompression {
  RAW,
  GZIP,
  BZIP2,
  XZ,
  ZSTD,
  /** Cryo only: libvirt cannot restore such an image. */
  LZ4,
  /** libvirt's lzop: reported for such images; Cryo neither saves nor restores them. */
  LZOP,
  /**
   * libvirt's "sparse" format (QEMU's mapped-ram, libvirt 11.2+): reported for such images; Cryo
   * neither saves nor restores them.
   */
  SPARSE
}
