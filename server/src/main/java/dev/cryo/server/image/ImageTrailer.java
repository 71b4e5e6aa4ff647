package dev.cryo.server.image;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.Reason;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The digest an image carries at its end, so that the bytes of a save stream alone are a
 * verifiable image, whoever stored them.
 *
 * <p>After the payload's codec unit (gzip member, bzip2 or xz stream, zstd or lz4 frame; nothing
 * for raw) comes a second, separate unit of the same codec holding this {@value #SIZE}-byte
 * record; raw images carry the record as is. Decompressed, the image is QEMU's migration stream
 * followed by the record: every decompressor libvirt runs reads concatenated units and exits 0,
 * and QEMU stops reading at the end of its stream, so libvirt restores such an image as any
 * other. Cryo's restore holds the record back from QEMU.
 *
 * <pre>
 * offset size field (little-endian)
 *  0     16   magic "CryoImageTrailer"
 * 16      4   version (1)
 * 20      4   record size (72)
 * 24      8   payload_bytes: stored bytes of the payload unit before this trailer's unit
 * 32      8   migration_bytes: bytes of QEMU's migration stream
 * 40     32   SHA-256 of those payload_bytes stored bytes
 * </pre>
 *
 * <p>The header announces the trailer ({@link #HEADER_MARK} in its last unused word), so a
 * trailer that a corrupt byte made unrecognisable is DATA_LOSS, not an unverified image.
 *
 * @param payloadBytes stored bytes the digest covers: the payload before the trailer's unit
 * @param migrationBytes bytes of QEMU's migration stream
 * @param sha256 lower-case hex
 */
public record ImageTrailer(long payloadBytes, long migrationBytes, String sha256) {
  public static final int SIZE = 72;
  static final int VERSION = 1;
  private static final byte[] MAGIC = "CryoImageTrailer".getBytes(StandardCharsets.US_ASCII);
  /**
   * Value of the header's last unused word ({@code unused[13]}, offset 88) in images with a
   * trailer: "CrT1". libvirt writes zeros there and never reads the word.
   */
  static final int HEADER_MARK = 0x31547243;
  /** Offset of {@link #HEADER_MARK} in the header. */
  static final int HEADER_MARK_OFFSET = 88;
  /**
   * Most stored bytes a trailer's codec unit takes (measured: 46 zstd to 96 xz for the record;
   * the bound leaves room for any codec setting).
   */
  public static final int MAX_UNIT_BYTES = 4096;

  public ImageTrailer {
    if (payloadBytes < 0 || migrationBytes < 0) {
      throw new IllegalArgumentException("negative sizes in a trailer");
    }
    new ImageXml.Digest(sha256, payloadBytes);
  }

  /** This trailer as the digest a restore compares with. */
  public ImageXml.Digest digest() {
    return new ImageXml.Digest(sha256, payloadBytes);
  }

  /** The record, uncompressed. */
  byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC).putInt(VERSION).putInt(SIZE).putLong(payloadBytes).putLong(migrationBytes)
        .put(HexFormat.of().parseHex(sha256));
    return b.array();
  }

  /** The record as a unit of {@code compression}, to append after the payload's unit. */
  public byte[] unit(Compression compression) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (OutputStream codec = compression.compress(out, 0)) {
      codec.write(encode());
    } catch (IOException e) {
      throw new UncheckedIOException("could not encode an image trailer", e);
    }
    return out.toByteArray();
  }

  /**
   * The trailer in the last {@value #SIZE} bytes of a decompressed image, if those bytes are one.
   *
   * @throws DataLossException for a record with Cryo's magic that is not a valid trailer
   */
  static Optional<ImageTrailer> decode(byte[] record) {
    if (record.length != SIZE
        || !Arrays.equals(record, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      return Optional.empty();
    }
    ByteBuffer b = ByteBuffer.wrap(record, MAGIC.length, SIZE - MAGIC.length)
        .order(ByteOrder.LITTLE_ENDIAN);
    int version = b.getInt();
    int size = b.getInt();
    long payload = b.getLong();
    long migration = b.getLong();
    byte[] sha = new byte[32];
    b.get(sha);
    if (version != VERSION || size != SIZE || payload < 0 || migration < 0) {
      throw new CryoException(
          Reason.IMAGE_DIGEST_MISMATCH,
          "the image's digest trailer is corrupt (version "
              + version
              + ", size "
              + size
              + ", payload "
              + payload
              + " bytes); the image cannot be verified");
    }
    return Optional.of(new ImageTrailer(payload, migration, HexFormat.of().formatHex(sha)));
  }

  /**
   * Finds the trailer in the last stored bytes of an image file: the record itself for raw,
   * else the last codec unit of {@code tail} that decodes to exactly one record.
   *
   * @param tail the last {@code min(MAX_UNIT_BYTES, payload)} stored bytes
   * @param payloadBytes all stored bytes of the payload, trailer included
   * @return the trailer, checked to end exactly where its unit ends
   */
  public static Optional<ImageTrailer> find(Compression compression, byte[] tail, long payloadBytes) {
    if (compression == Compression.RAW) {
      if (tail.length < SIZE) {
        return Optional.empty();
      }
      Optional<ImageTrailer> t = decode(Arrays.copyOfRange(tail, tail.length - SIZE,
          tail.length));
      return t.filter(x -> x.payloadBytes() == payloadBytes - SIZE
          && x.migrationBytes() == x.payloadBytes());
    }
    byte[] magic = unitMagic(compression);
    for (int start = tail.length - 8; start >= 0; start--) {
      if (!Arrays.equals(tail, start, Math.min(tail.length, start + magic.length), magic, 0,
          magic.length)) {
        continue;
      }
      byte[] record = decodeUnit(compression, tail, start);
      if (record != null) {
        Optional<ImageTrailer> t = decode(record);
        if (t.isPresent()) {
          long unitBytes = tail.length - start;
          return t.filter(x -> x.payloadBytes() == payloadBytes - unitBytes);
        }
      }
    }
    return Optional.empty();
  }

  /** The bytes every unit of {@code compression} starts with. */
  private static byte[] unitMagic(Compression compression) {
    return switch (compression) {
      case GZIP -> new byte[] {0x1f, (byte) 0x8b};
      case BZIP2 -> "BZh".getBytes(StandardCharsets.US_ASCII);
      case XZ -> new byte[] {(byte) 0xfd, '7', 'z', 'X', 'Z', 0};
      case ZSTD -> new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd};
      case LZ4 -> new byte[] {0x04, 0x22, 0x4d, 0x18};
      default -> new byte[0];
    };
  }

  /** The record {@code tail[start..]} decodes to, or null if it is not one codec unit of it. */
  private static byte[] decodeUnit(Compression compression, byte[] tail, int start) {
    try (InputStream in = compression.decompress(
        new ByteArrayInputStream(tail, start, tail.length - start))) {
      byte[] out = in.readNBytes(SIZE + 1);
      return out.length == SIZE ? out : null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
