package dev.cryo.server.image;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a save image onto a stream as it is produced: header, domain XML (NUL-terminated) and
 * libvirt's 64 KiB of zero padding (room for a later, longer XML), then the payload through the
 * codec, counting and hashing the stored bytes, then the digest trailer ({@link ImageTrailer}),
 * so the bytes written are a complete image that verifies itself. Holds no more than the codec's
 * own buffers.
 *
 * <p>Use: {@link #start}, write QEMU's migration stream to {@link #payload()}, then {@link
 * #finish()}, and close it. The target is flushed, never closed.
 */
public final class SaveImageWriter implements AutoCloseable {
  /** Zero bytes after the XML, as libvirt leaves, so UpdateImageXml can grow the XML in place. */
  public static final int XML_PADDING = 64 * 1024;

  private final SaveImageHeader header;
  private final OutputStream target;
  private final HashingStreams.Out stored;
  private final HashingStreams.Out raw;
  private final OutputStream codec;
  private final ParallelSha256 digest = new ParallelSha256();
  private PayloadSummary summary;
  private int trailerBytes;

  private SaveImageWriter(OutputStream target, SaveImageHeader header, int level)
      throws IOException {
    this.header = header;
    this.target = target;
    this.stored = new HashingStreams.Out(target, digest);
    // Codecs write small pieces; one buffer in front of the codec keeps its calls large.
    this.codec = new BufferedOutputStream(header.compression().compress(stored, level),
        256 * 1024);
    this.raw = new HashingStreams.Out(codec, null);
  }

  /**
   * Writes the header and XML to {@code target} and returns a writer for the payload.
   *
   * @param complete the magic to write: true for {@code LibvirtQemudSave} (a stream, which cannot
   *     be rewritten later), false for {@code LibvirtQemudPart} (a file, flipped by {@link
   *     SaveImageFile#complete} once it is whole)
   * @param level compression level, 0 for the format's default
   */
  public static SaveImageWriter start(OutputStream target, String xml, boolean wasRunning,
      Compression compression, int level, boolean complete) throws IOException {
    compression.level(level);
    return new SaveImageWriter(target, writeHead(target, xml, wasRunning, compression, complete),
        level);
  }

  /**
   * Writes the header (announcing a trailer), XML and padding to {@code target}; the payload
   * and then its trailer follow them.
   */
  public static SaveImageHeader writeHead(OutputStream target, String xml, boolean wasRunning,
      Compression compression, boolean complete) throws IOException {
    byte[] xmlBytes = xmlBytes(xml);
    int dataLen = xmlBytes.length + XML_PADDING;
    SaveImageHeader header = new SaveImageHeader(complete, dataLen, wasRunning, compression, 0,
        true);
    target.write(header.encode());
    target.write(xmlBytes);
    target.write(new byte[XML_PADDING]);
    target.flush();
    return header;
  }

  /** The XML as stored: UTF-8 with a terminating NUL. */
  static byte[] xmlBytes(String xml) {
    byte[] text = xml.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[text.length + 1];
    System.arraycopy(text, 0, out, 0, text.length);
    return out;
  }

  public SaveImageHeader header() {
    return header;
  }

  /** Where QEMU's migration stream goes. Do not close it; call {@link #finish()}. */
  public OutputStream payload() {
    return raw;
  }

  /** Uncompressed payload bytes written so far. */
  public long rawBytes() {
    return raw.count();
  }

  /** Stored (compressed) payload bytes written so far. */
  public long storedBytes() {
    return stored.count();
  }

  /**
   * Ends the codec's stream, appends the digest trailer, flushes the target and returns the
   * payload's digest and sizes (the trailer excluded).
   */
  public PayloadSummary finish() throws IOException {
    if (summary == null) {
      raw.flush();
      // Closing the codec writes its end; the hashing stream under it does not close the
      // target.
      codec.close();
      summary = new PayloadSummary(digest.finish(), stored.count(), raw.count());
      byte[] unit = new ImageTrailer(summary.storedBytes(), summary.rawBytes(), summary.sha256())
          .unit(header.compression());
      target.write(unit);
      target.flush();
      trailerBytes = unit.length;
    }
    return summary;
  }

  /** Stored bytes of the trailer {@link #finish()} wrote. */
  public int trailerBytes() {
    return trailerBytes;
  }

  /** Releases the hashing thread of a writer that did not {@link #finish()}. */
  @Override
  public void close() {
    digest.close();
  }
}
