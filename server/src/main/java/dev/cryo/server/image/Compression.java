package dev.cryo.server.image;

import com.github.luben.zstd.ZstdInputStream;
import com.github.luben.zstd.ZstdOutputStream;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import net.jpountz.lz4.LZ4FrameInputStream;
import net.jpountz.lz4.LZ4FrameOutputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;

/**
 * How the QEMU migration stream of a save image is compressed: the {@code format} word of
 * libvirt's header. Codes 0-6 are libvirt's ({@code virQEMUSaveFormat}); {@link #LZ4} is Cryo's
 * own and an image using it cannot be restored by libvirt. Every codec runs in-process.
 */
public enum Compression {
  RAW(0, 0, 0, 0),
  GZIP(1, 1, 9, 6),
  BZIP2(2, 1, 9, 9),
  // Presets 7-9 need 186-674 MiB of encoder memory (xz(1)), more than a server should spend per
  // save; 6 is xz's and libvirt's default.
  XZ(3, 0, 6, 6),
  /** libvirt's lzop: recognised in headers, refused for both reading and writing. */
  LZOP(4, 0, 0, 0),
  ZSTD(5, 1, 19, 3),
  /**
   * libvirt's "sparse" format (libvirt 11.2): QEMU's mapped-ram stream, guest pages at fixed
   * offsets of the file. Recognised in headers, refused for both reading and writing.
   */
  SPARSE(6, 0, 0, 0),
  /** Cryo-only (LZ4 frame format). libvirt has no code for it and refuses the image. */
  LZ4(0x43720001, 0, 0, 0);

  private final int code;
  private final int minLevel;
  private final int maxLevel;
  private final int defaultLevel;

  Compression(int code, int minLevel, int maxLevel, int defaultLevel) {
    this.code = code;
    this.minLevel = minLevel;
    this.maxLevel = maxLevel;
    this.defaultLevel = defaultLevel;
  }

  /** The value of the header's {@code format} word. */
  public int code() {
    return code;
  }

  /** True if some libvirt release can restore images in this format. */
  public boolean libvirtCompatible() {
    return this != LZ4;
  }

  /**
   * Which libvirt restores images in this format, for callers that move images to libvirt hosts:
   * the release that added the format to {@code virQEMUSaveFormat}, as far as it is known and
   * tested here (Debian 12's libvirt 9.0 restores raw, gzip, bzip2 and xz images and refuses
   * zstd).
   */
  public String libvirtRestorableBy() {
    return switch (this) {
      case RAW, GZIP, BZIP2, XZ, LZOP -> "any libvirt release, with its compressor installed";
      case ZSTD -> "libvirt releases after 9.0 (9.0 has no zstd save format), with zstd installed";
      case SPARSE -> "libvirt 11.2 or later, with QEMU 9.0 or later (mapped-ram)";
      case LZ4 -> "no libvirt: lz4 is Cryo's own format";
    };
  }

  /** The lower-case name libvirt uses in {@code qemu.conf} ({@code save_image_format}). */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The format with header code {@code code}.
   *
   * @throws InvalidArgumentException for a code neither libvirt nor Cryo defines
   */
  public static Compression fromCode(int code) {
    for (Compression c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    throw new CryoException(
        Reason.IMAGE_FORMAT_UNSUPPORTED,
        "unknown compression code "
            + code
            + " in the save image header; known: 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd, "
            + "6 sparse, "
            + LZ4.code
            + " lz4 (Cryo only)");
  }

  /**
   * Checks {@code level} (0 = this format's default) and returns the level to use.
   *
   * @throws InvalidArgumentException if the level is outside this format's range
   */
  public int level(int level) {
    requireSupported();
    if (level == 0) {
      return defaultLevel;
    }
    if (minLevel == maxLevel || level < minLevel || level > maxLevel) {
      throw new InvalidArgumentException(
          "compression level "
              + level
              + " is not valid for "
              + label()
              + (minLevel == maxLevel
                  ? ", which takes no level; use 0"
                  : "; use "
                      + minLevel
                      + ".."
                      + maxLevel
                      + " or 0 for the default ("
                      + defaultLevel
                      + ")"));
    }
    return level;
  }

  private static final int ZSTD_WORKERS = Math.max(1, Runtime.getRuntime().availableProcessors());

  /** Wraps {@code out} in this format's compressor; closing the result closes {@code out}. */
  public OutputStream compress(OutputStream out, int level) throws IOException {
    int l = level(level);
    return switch (this) {
      case RAW -> out;
      case GZIP -> {
        GzipParameters p = new GzipParameters();
        p.setCompressionLevel(l);
        yield new GzipCompressorOutputStream(out, p);
      }
      case BZIP2 -> new BZip2CompressorOutputStream(out, l);
      case XZ -> new XZCompressorOutputStream(out, l);
      // zstd's own worker threads compress while the caller moves QEMU's bytes; the frames are
      // plain zstd, which `zstd -d` and libvirt read as they read any other, and carry their
      // content checksum as the zstd tool writes them (ZstdInputStream checks it).
      case ZSTD -> new ZstdOutputStream(out, l).setChecksum(true).setWorkers(ZSTD_WORKERS);
      case LZ4 -> new LZ4FrameOutputStream(out, LZ4FrameOutputStream.BLOCKSIZE.SIZE_4MB);
      case LZOP, SPARSE -> throw new AssertionError();
    };
  }

  /** Wraps {@code in} in this format's decompressor; closing the result closes {@code in}. */
  public InputStream decompress(InputStream in) throws IOException {
    requireSupported();
    return switch (this) {
      case RAW -> in;
      case GZIP -> new GzipCompressorInputStream(in, true);
      case BZIP2 -> new BZip2CompressorInputStream(in, true);
      case XZ -> new XZCompressorInputStream(in, true);
      case ZSTD -> new ZstdInputStream(in);
      case LZ4 -> new LZ4FrameInputStream(in);
      case LZOP, SPARSE -> throw new AssertionError();
    };
  }

  private void requireSupported() {
    if (this == LZOP) {
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "lzop-compressed save images are not supported: Cryo "
              + "has no in-process lzop codec. Convert the image with virsh (save_image_format) or "
              + "save it again with another compression");
    }
    if (this == SPARSE) {
      // A mapped-ram image is not a stream: QEMU reads it with random access through a file
      // migration URI and the mapped-ram capability (QEMU 9.0), which this QEMU lacks.
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "the save image uses libvirt's 'sparse' format (code 6, QEMU's mapped-ram migration"
              + " stream, written by libvirt 11.2 or later), which Cryo neither reads nor writes:"
              + " restore it with virsh on libvirt 11.2 or later with QEMU 9.0 or later, or save"
              + " the domain there again with save_image_format 'raw'");
    }
  }

  /** The format called {@code label} (case-insensitive), for options given as text. */
  public static Compression fromLabel(String label) {
    for (Compression c : values()) {
      if (c.label().equalsIgnoreCase(label)) {
        return c;
      }
    }
    throw new InvalidArgumentException("unknown compression '" + label
        + "'; use raw, gzip, bzip2, xz, zstd or lz4");
  }
}
