package dev.cryo.server.image;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.Reason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The fixed 92-byte header of a libvirt QEMU save image ({@code virQEMUSaveHeader} in libvirt's
 * {@code qemu_saveimage.h}): 16-byte magic, then uint32 {@code version}, {@code data_len}, {@code
 * was_running}, {@code format}, {@code cookieOffset} and 14 unused words, in the byte order of the
 * host that wrote it (libvirt swaps on read when the version reads byte-swapped; so does this).
 *
 * <p>After the header come {@code data_len} bytes: the domain XML with its NUL, an optional
 * cookie, zero padding; then the (compressed) QEMU migration stream.
 *
 * @param complete false while the image is being written ({@code LibvirtQemudPart})
 * @param dataLen bytes of XML, cookie and padding after the header
 * @param wasRunning whether the guest's CPUs ran when it was saved
 * @param compression the payload's format
 * @param cookieOffset offset of the cookie within the data, 0 if there is none
 * @param trailer whether the payload ends with Cryo's digest trailer ({@link ImageTrailer}),
 *     announced in the last unused word
 */
public record SaveImageHeader(boolean complete, int dataLen, boolean wasRunning,
    Compression compression, int cookieOffset, boolean trailer) {
  public static final int SIZE = 92;
  public static final int VERSION = 2;
  /** The largest {@code data_len} accepted; libvirt's XML plus its 64 KiB padding is far less. */
  public static final int MAX_DATA_LEN = 16 << 20;
  static final byte[] MAGIC = "LibvirtQemudSave".getBytes(StandardCharsets.US_ASCII);
  static final byte[] PARTIAL = "LibvirtQemudPart".getBytes(StandardCharsets.US_ASCII);
  /** Offset of the magic, which is rewritten when an image is complete. */
  static final int MAGIC_OFFSET = 0;

  /** Offset of the payload from the start of the image. */
  public long payloadOffset() {
    return SIZE + (dataLen & 0xffffffffL);
  }

  /** The header as written by a little-endian host (every host Cryo runs on). */
  public byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    b.put(complete ? MAGIC : PARTIAL);
    b.putInt(VERSION);
    b.putInt(dataLen);
    b.putInt(wasRunning ? 1 : 0);
    b.putInt(compression.code());
    b.putInt(cookieOffset);
    if (trailer) {
      b.putInt(ImageTrailer.HEADER_MARK_OFFSET, ImageTrailer.HEADER_MARK);
    }
    return b.array();
  }

  /**
   * Parses and checks a header.
   *
   * @throws CryoException IMAGE_FORMAT_UNSUPPORTED for a wrong magic, an unknown version or
   *     compression code, or a {@code data_len} beyond {@link #MAX_DATA_LEN}
   * @throws DataLossException for {@code LibvirtQemudPart}: the image was never finished
   */
  public static SaveImageHeader decode(byte[] bytes) {
    if (bytes.length < SIZE) {
      throw new CryoException(
          Reason.IMAGE_TRUNCATED,
          "save image truncated in the header: " + bytes.length + " of " + SIZE + " bytes");
    }
    byte[] magic = Arrays.copyOf(bytes, MAGIC.length);
    boolean complete = Arrays.equals(magic, MAGIC);
    if (!complete && !Arrays.equals(magic, PARTIAL)) {
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "not a libvirt QEMU save image: it starts with "
              + printable(magic)
              + " instead of LibvirtQemudSave");
    }
    if (!complete) {
      throw new CryoException(
          Reason.IMAGE_TRUNCATED,
          "the save image is incomplete (magic LibvirtQemudPart): it "
              + "was never finished, probably because the save failed or was interrupted; save the "
              + "domain again");
    }
    ByteBuffer b = ByteBuffer.wrap(bytes, MAGIC.length, SIZE - MAGIC.length)
        .order(ByteOrder.LITTLE_ENDIAN);
    int version = b.getInt();
    // As libvirt (qemuSaveImageReadHeader): a version above ours may be byte-swapped; any version
    // up to ours is read.
    if (Integer.compareUnsigned(version, VERSION) > 0
        && Integer.compareUnsigned(Integer.reverseBytes(version), VERSION) <= 0) {
      b.order(ByteOrder.BIG_ENDIAN);
      version = Integer.reverseBytes(version);
    }
    if (Integer.compareUnsigned(version, VERSION) > 0) {
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "save image version "
              + Integer.toUnsignedString(version)
              + " is not supported; Cryo reads versions up to "
              + VERSION
              + ", as libvirt does");
    }
    int dataLen = b.getInt();
    if (dataLen < 0 || dataLen > MAX_DATA_LEN) {
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "save image data_len "
              + Integer.toUnsignedString(dataLen)
              + " is beyond the limit of "
              + MAX_DATA_LEN
              + " bytes; the header is corrupt");
    }
    int wasRunning = b.getInt();
    int format = b.getInt();
    // Before version 2 the word was unused: libvirt decompresses only version-2 images and feeds
    // older ones to QEMU as they are.
    Compression compression = version < VERSION ? Compression.RAW : Compression.fromCode(format);
    int cookieOffset = b.getInt();
    if (cookieOffset < 0 || cookieOffset > dataLen) {
      throw new CryoException(
          Reason.IMAGE_FORMAT_UNSUPPORTED,
          "save image cookieOffset "
              + cookieOffset
              + " lies outside its data ("
              + dataLen
              + " bytes); the header is corrupt");
    }
    boolean trailer = b.getInt(ImageTrailer.HEADER_MARK_OFFSET)
        == ImageTrailer.HEADER_MARK;
    return new SaveImageHeader(true, dataLen, wasRunning != 0, compression, cookieOffset,
        trailer);
  }

  private static String printable(byte[] bytes) {
    StringBuilder s = new StringBuilder("'");
    for (byte x : bytes) {
      s.append(x >= 0x20 && x < 0x7f ? (char) x : '.');
    }
    return s.append('\'').toString();
  }
}
