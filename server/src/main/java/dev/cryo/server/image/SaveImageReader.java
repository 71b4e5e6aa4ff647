package dev.cryo.server.image;

import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads a save image from a stream as it arrives: {@link #open} parses and checks the header and
 * the domain XML; {@link #payload()} then yields QEMU's migration stream, decompressed, while
 * the stored bytes are counted and hashed. Nothing is buffered beyond the codec's own windows
 * and the few KiB at the end that may be the image's digest trailer ({@link ImageTrailer}): the
 * last {@value ImageTrailer#SIZE} decompressed bytes are held back from QEMU, and the last
 * {@value ImageTrailer#MAX_UNIT_BYTES} stored bytes from the digest, until the image has ended
 * and said whether they are one.
 *
 * <p>Every defect gets its own message: truncation (header, XML, payload), a corrupt codec
 * stream and a missing or corrupt trailer are DATA_LOSS; a wrong magic, version, compression
 * code, {@code data_len} or XML are INVALID_ARGUMENT.
 */
public final class SaveImageReader implements AutoCloseable {
  private final SaveImageHeader header;
  private final String xml;
  /** Null when the XML is a domain Cryo cannot run as written; see {@link #xmlProblem}. */
  private final DomainXml.Parsed parsed;

  private final CryoException xmlProblem;
  private final HashingStreams.In stored;
  private final ParallelSha256 digest = new ParallelSha256();
  /** The last stored bytes read through {@link #stored}, not yet hashed. */
  private final HeldTail storedTail = new HeldTail(ImageTrailer.MAX_UNIT_BYTES, digest::update);
  private final InputStream payload;
  /** Stored bytes that came as pieces ({@link #nextPiece}). */
  private long pieceBytes;
  /** Pieces held back until {@value ImageTrailer#SIZE} bytes follow them. */
  private final ArrayDeque<ChunkedImageStream.Piece> heldPieces =
      new ArrayDeque<>();
  private long heldPieceBytes;
  private boolean piecesEnded;
  /** Set once the payload ended with a trailer. */
  private ImageTrailer trailer;
  private PayloadSummary summary;

  private SaveImageReader(
      SaveImageHeader header,
      String xml,
      DomainXml.Parsed parsed,
      CryoException xmlProblem,
      InputStream source)
      throws IOException {
    this.xmlProblem = xmlProblem;
    this.header = header;
    this.xml = xml;
    this.parsed = parsed;
    this.stored = new HashingStreams.In(source, storedTail::write);
    this.payload = new WithoutTrailer(new Decoded());
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
      throw new CryoException(
          Reason.IMAGE_TRUNCATED,
          "save image truncated in the header: it ends after "
              + head.length
              + " of "
              + SaveImageHeader.SIZE
              + " bytes");
    }
    SaveImageHeader header = SaveImageHeader.decode(head);
    byte[] data = in.readNBytes(header.dataLen());
    if (data.length < header.dataLen()) {
      throw new CryoException(
          Reason.IMAGE_TRUNCATED,
          "save image truncated in the domain XML: it ends "
              + data.length
              + " bytes into its "
              + header.dataLen()
              + " bytes of XML and padding");
    }
    int end = header.cookieOffset() > 0 ? header.cookieOffset() : data.length;
    int nul = 0;
    while (nul < end && data[nul] != 0) {
      nul++;
    }
    if (nul == end && header.cookieOffset() == 0) {
      throw new CryoException(
          Reason.IMAGE_XML_INVALID,
          "the domain XML in the save image is not "
              + "NUL-terminated within data_len ("
              + header.dataLen()
              + " bytes); the image is corrupt");
    }
    String xml = new String(data, 0, nul, StandardCharsets.UTF_8);
    // A domain XML Cryo cannot run as written (a libvirt device it does not model) is kept for
    // a replacement XML to stand in for; parsed() then throws the problem.
    try {
      return new SaveImageReader(header, xml, ImageXml.parse(xml), null, in);
    } catch (CryoException e) {
      if (e.reason() != Reason.IMAGE_XML_INVALID || !xml.trim().startsWith("<domain")) {
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

  /**
   * QEMU's migration stream, decompressed. Ends at the end of the image, or where its trailer
   * begins.
   */
  public InputStream payload() {
    return payload;
  }

  /**
   * The next piece of a raw payload arriving on {@code chunks}, for a caller that passes the
   * transport's buffers on instead of reading {@link #payload()}; null at the end. The trailer
   * is held back: the last pieces are cut short of it. Give each piece to {@link #storedPiece}
   * once used.
   */
  public ChunkedImageStream.Piece nextPiece(ChunkedImageStream chunks) {
    while (true) {
      if (!piecesEnded) {
        ChunkedImageStream.Piece p = chunks.nextPiece();
        if (p == null) {
          piecesEnded = true;
          endPieces();
        } else {
          pieceBytes += p.size();
          heldPieces.add(p);
          heldPieceBytes += p.size();
        }
      }
      ChunkedImageStream.Piece first = heldPieces.peekFirst();
      if (first == null) {
        if (piecesEnded) {
          return null;
        }
      } else if (piecesEnded || heldPieceBytes - first.size() >= ImageTrailer.SIZE) {
        heldPieceBytes -= first.size();
        return heldPieces.removeFirst();
      }
    }
  }

  /**
   * At the end of the pieces: copies out the last {@value ImageTrailer#SIZE} bytes, cuts the held
   * pieces short of them, and puts them back as a piece of their own unless they are a trailer.
   */
  private void endPieces() {
    int tailLen = (int) Math.min(ImageTrailer.SIZE, heldPieceBytes);
    byte[] tail = new byte[tailLen];
    long keep = heldPieceBytes - tailLen;
    long seen = 0;
    ArrayDeque<ChunkedImageStream.Piece> cut = new ArrayDeque<>();
    for (ChunkedImageStream.Piece p : heldPieces) {
      List<ByteBuffer> kept = new ArrayList<>();
      for (ByteBuffer b : p.views()) {
        int n = b.remaining();
        int keepHere = (int) Math.max(0, Math.min(n, keep - seen));
        ByteBuffer rest = b.duplicate();
        rest.position(b.position() + keepHere);
        rest.get(tail, (int) Math.max(0, seen + keepHere - keep), n - keepHere);
        if (keepHere > 0) {
          ByteBuffer k = b.duplicate();
          k.limit(b.position() + keepHere);
          kept.add(k);
        }
        seen += n;
      }
      if (kept.isEmpty()) {
        p.release().run();
      } else {
        cut.add(new ChunkedImageStream.Piece(kept.toArray(new ByteBuffer[0]),
            p.release()));
      }
    }
    heldPieces.clear();
    heldPieces.addAll(cut);
    trailer = ImageTrailer.decode(tail).orElse(null);
    if (trailer == null && tailLen > 0) {
      heldPieces.add(new ChunkedImageStream.Piece(
          new ByteBuffer[] {ByteBuffer.wrap(tail)}, () -> { }));
    }
    heldPieceBytes = 0;
    for (ChunkedImageStream.Piece p : heldPieces) {
      heldPieceBytes += p.size();
    }
  }

  /**
   * Counts and hashes a piece from {@link #nextPiece}, once used; the piece is released once
   * hashed.
   */
  public void storedPiece(ChunkedImageStream.Piece piece) {
    digest.update(piece);
  }

  /**
   * Reads what is left of the stored payload (a codec may stop before the end of its input) and
   * returns the payload's digest and sizes: of the payload before the trailer if it has one.
   * Call after {@link #payload()} or {@link #nextPiece} reached its end.
   *
   * @throws DataLossException if the header announces a trailer that is not there, or the
   *     trailer's size does not fit the payload before it
   */
  public PayloadSummary finish(long rawBytes) throws IOException {
    if (summary == null) {
      byte[] buf = new byte[64 * 1024];
      while (stored.read(buf, 0, buf.length) >= 0) {
        // Drain into the digest.
      }
      byte[] held = storedTail.bytes();
      long total = storedTail.total() + pieceBytes;
      long hashed = digest.count();
      if (trailer == null) {
        if (header.trailer()) {
          throw new CryoException(
              Reason.IMAGE_TRUNCATED,
              "the save image announces a digest trailer but its "
                  + "payload does not end with one: the image is truncated or corrupt");
        }
        digest.update(held, 0, held.length);
        summary = new PayloadSummary(digest.finish(), total, rawBytes);
      } else {
        long unit = total - trailer.payloadBytes();
        long fromHeld = trailer.payloadBytes() - hashed;
        boolean fits = header.compression() == Compression.RAW ? unit == ImageTrailer.SIZE
            : unit > 0 && unit <= ImageTrailer.MAX_UNIT_BYTES;
        if (!fits || fromHeld < 0 || fromHeld > held.length) {
          throw new CryoException(
              Reason.IMAGE_TRUNCATED,
              "the save image's digest trailer records "
                  + trailer.payloadBytes()
                  + " payload bytes, but "
                  + total
                  + " bytes came with "
                  + "it: the image is truncated or corrupt");
        }
        if (trailer.migrationBytes() != rawBytes) {
          throw new CryoException(
              Reason.IMAGE_DIGEST_MISMATCH,
              "the save image's digest trailer records a migration "
                  + "stream of "
                  + trailer.migrationBytes()
                  + " bytes, but the payload held "
                  + rawBytes
                  + ": the image is corrupt");
        }
        digest.update(held, 0, (int) fromHeld);
        summary = new PayloadSummary(digest.finish(), trailer.payloadBytes(), rawBytes);
      }
    }
    return summary;
  }

  /** The trailer the payload ended with, known once it has ended. */
  public Optional<ImageTrailer> trailer() {
    return Optional.ofNullable(trailer);
  }

  /** Releases the hashing thread and any held pieces of a reader that did not {@link #finish}. */
  @Override
  public void close() {
    for (ChunkedImageStream.Piece p; (p = heldPieces.poll()) != null; ) {
      p.release().run();
    }
    digest.close();
  }

  /** The decoded stream without its last {@value ImageTrailer#SIZE} bytes if they are a trailer. */
  private final class WithoutTrailer extends InputStream {
    private final InputStream decoded;
    private final byte[] in = new byte[256 * 1024];
    private byte[] out = new byte[in.length];
    private int outPos;
    private int outLen;
    private boolean ended;
    private final HeldTail tail = new HeldTail(ImageTrailer.SIZE, (b, off, len) -> {
      System.arraycopy(b, off, out, outLen, len);
      outLen += len;
    });

    WithoutTrailer(InputStream decoded) {
      this.decoded = decoded;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      while (outPos == outLen) {
        if (ended) {
          return -1;
        }
        outPos = 0;
        outLen = 0;
        int n = decoded.read(in, 0, in.length);
        if (n < 0) {
          ended = true;
          byte[] last = tail.bytes();
          trailer = ImageTrailer.decode(last).orElse(null);
          if (trailer == null) {
            out = last;
            outLen = last.length;
          }
        } else {
          tail.write(in, 0, n);
        }
      }
      int n = Math.min(len, outLen - outPos);
      System.arraycopy(out, outPos, b, off, n);
      outPos += n;
      return n;
    }
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
        throw new CryoException(
            Reason.IMAGE_CORRUPT,
            "the "
                + header.compression().label()
                + " payload of the save image is truncated or corrupt after "
                + storedTail.total()
                + " stored bytes: "
                + e.getMessage(),
            e);
      }
    }
  }
}
