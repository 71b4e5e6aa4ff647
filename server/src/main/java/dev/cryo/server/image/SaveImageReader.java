package dev.cryo.server.image;

import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.InvalidArgumentException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Reads a save image from a stream as it arrives: {@link #open} parses and checks the header and
 * the domain XML; {@link #payload()} then yields QEMU's migration stream, decompressed, while
 * the stored bytes are counted and hashed. Nothing is buffered beyond the codec's own windows.
 *
 * <p>Every defect gets its own message: truncation (header, XML, payload) and a corrupt codec
 * stream are DATA_LOSS; a wrong magic, version, compression code, {@code data_len} or XML are
 * INVALID_ARGUMENT.
 */
public final class SaveImageReader implements AutoCloseable {
  private final SaveImageHeader header;
  private final String xml;
  /** Null when the XML is a domain Cryo cannot run as written; see {@link #xmlProblem}. */
  private final DomainXml.Parsed parsed;
  private final InvalidArgumentException xmlProblem;
  private final HashingStreams.In stored;
  private final ParallelSha256 digest = new ParallelSha256();
  private final InputStream payload;
  private String sha256;

  private SaveImageReader(SaveImageHeader header, String xml, DomainXml.Parsed parsed,
      InvalidArgumentException xmlProblem, InputStream source) throws IOException {
    this.xmlProblem = xmlProblem;
    this.header = header;
    this.xml = xml;
    this.parsed = parsed;
    this.stored = new HashingStreams.In(source, digest);
    this.payload = new Decoded();
  }

  /**
   * Reads the header and XML from {@code in}, leaving it at the payload.
   *
   * @throws InvalidArgumentException, DataLossException as the class describes
   */
  public static SaveImageReader open(InputStream in) throws IOException {
    byte[] head = in.readNBytes(SaveImageHeader.SIZE);
    if (head.length < SaveImageHeader.SIZE) {
      if (head.length >= SaveImageHeader.MAGIC.length) {
        // A wrong magic says more than "truncated" about a short non-image.
        SaveImageHeader.decode(java.util.Arrays.copyOf(head, SaveImageHeader.SIZE));
      }
      throw new DataLossException("save image truncated in the header: it ends after "
          + head.length + " of " + SaveImageHeader.SIZE + " bytes");
    }
    SaveImageHeader header = SaveImageHeader.decode(head);
    byte[] data = in.readNBytes(header.dataLen());
    if (data.length < header.dataLen()) {
      throw new DataLossException("save image truncated in the domain XML: it ends "
          + data.length + " bytes into its " + header.dataLen() + " bytes of XML and padding");
    }
    int end = header.cookieOffset() > 0 ? header.cookieOffset() : data.length;
    int nul = 0;
    while (nul < end && data[nul] != 0) {
      nul++;
    }
    if (nul == end && header.cookieOffset() == 0) {
      throw new InvalidArgumentException("the domain XML in the save image is not "
          + "NUL-terminated within data_len (" + header.dataLen() + " bytes); the image is corrupt");
    }
    String xml = new String(data, 0, nul, StandardCharsets.UTF_8);
    // A domain XML Cryo cannot run as written (a libvirt device it does not model) is kept for
    // a replacement XML to stand in for; parsed() then throws the problem.
    try {
      return new SaveImageReader(header, xml, ImageXml.parse(xml), null, in);
    } catch (InvalidArgumentException e) {
      if (!xml.trim().startsWith("<domain")) {
        throw e;
      }
      return new SaveImageReader(header, xml, null, e, in);
    }
  }

  public SaveImageHeader header() {
    return header;
  }

  /** The domain XML exactly as stored. */
  public String xml() {
    return xml;
  }

  /** The domain XML, parsed, with what Cryo ignored in it. */
  public DomainXml.Parsed parsed() {
    if (parsed == null) {
      throw xmlProblem;
    }
    return parsed;
  }

  /** The integrity record of the image's XML, if it has one. */
  public Optional<ImageXml.Digest> storedDigest() {
    return parsed == null ? Optional.empty() : ImageXml.digest(parsed.def());
  }

  /** QEMU's migration stream, decompressed. Ends at the end of the image. */
  public InputStream payload() {
    return payload;
  }

  /**
   * Counts and hashes a piece of a raw payload that the caller read itself from a {@link
   * ChunkedImageStream} instead of through {@link #payload()}; the piece is released once hashed.
   */
  public void storedPiece(ChunkedImageStream.Piece piece) {
    digest.update(piece);
  }

  /**
   * Reads what is left of the stored payload (a codec may stop before the end of its input) and
   * returns the payload's digest and sizes. Call after {@link #payload()} reached its end.
   */
  public PayloadSummary finish(long rawBytes) throws IOException {
    if (sha256 == null) {
      byte[] buf = new byte[64 * 1024];
      while (stored.read(buf, 0, buf.length) >= 0) {
        // Drain into the digest.
      }
      sha256 = digest.finish();
    }
    return new PayloadSummary(sha256, digest.count(), rawBytes);
  }

  /** Releases the hashing thread of a reader that did not {@link #finish}. */
  @Override
  public void close() {
    digest.close();
  }

  /** Turns a codec's complaints into DATA_LOSS; failures of the source pass unchanged. */
  private final class Decoded extends InputStream {
    /** Created on the first read: some codecs (bzip2) read a whole block in their constructor. */
    private InputStream in;

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        if (in == null) {
          in = header.compression().decompress(stored);
        }
        return in.read(b, off, len);
      } catch (CryoException e) {
        throw e;
      } catch (IOException | RuntimeException e) {
        throw new DataLossException("the " + header.compression().label() + " payload of the "
            + "save image is truncated or corrupt after " + digest.count() + " stored bytes: "
            + e.getMessage(), e);
      }
    }
  }
}
