package dev.cryo.server.image;

import static dev.cryo.server.image.SaveImageFormatTest.payload;
import static dev.cryo.server.image.SaveImageFormatTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.ErrorKind;
import dev.cryo.server.error.Reason;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The digest trailer: written by every save, found and checked by every read, held from QEMU. */
@Timeout(300)
class ImageTrailerTest {

  /** What a restore would conclude from an image: the payload it feeds QEMU, or DATA_LOSS. */
  record Outcome(boolean dataLoss, byte[] migration, Optional<ImageTrailer> trailer) {}

  /** Reads {@code image} as the server's stream restore does and compares the digests. */
  static Outcome restore(byte[] image) {
    try (SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image))) {
      byte[] migration = r.payload().readAllBytes();
      PayloadSummary s = r.finish(migration.length);
      if (r.trailer().isPresent() && !r.trailer().get().digest()
          .equals(new ImageXml.Digest(s.sha256(), s.storedBytes()))) {
        return new Outcome(true, null, r.trailer());
      }
      return new Outcome(false, migration, r.trailer());
    } catch (CryoException e) {
      if (e.kind() != ErrorKind.CORRUPT) {
        throw new AssertionError("not DATA_LOSS: " + e, e);
      }
      return new Outcome(true, null, Optional.empty());
    } catch (IOException | RuntimeException e) {
      throw new AssertionError("not DATA_LOSS: " + e, e);
    }
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"LZOP", "SPARSE"},
      mode = EnumSource.Mode.EXCLUDE)
  void flippedBit_anywhereInPayloadOrTrailer_isDataLoss(Compression c) throws Exception {
    byte[] migration = payload(20_000);
    byte[] image = write(c, migration, true);
    Outcome good = restore(image);
    assertThat(good.dataLoss()).isFalse();
    assertThat(good.migration()).isEqualTo(migration);
    ImageTrailer trailer = good.trailer().orElseThrow();
    int offset = (int) SaveImageHeader.decode(image).payloadOffset();
    int payloadEnd = offset + (int) trailer.payloadBytes();
    List<Integer> positions = new ArrayList<>();
    for (int p = offset; p < payloadEnd; p += Math.max(1, (payloadEnd - offset) / 40)) {
      positions.add(p);
    }
    for (int p = Math.max(offset, payloadEnd - 64); p < image.length; p++) {
      positions.add(p);
    }
    int detected = 0;
    for (int p : positions) {
      for (int bit : new int[] {p % 8}) {
        byte[] bad = image.clone();
        bad[p] ^= (byte) (1 << bit);
        Outcome o = restore(bad);
        if (p < payloadEnd) {
          assertThat(o.dataLoss()).as("%s: bit %d of byte %d of the payload", c, bit,
              p - offset).isTrue();
        } else if (!o.dataLoss()) {
          // In the trailer's own codec framing, a bit that decodes to the same record (a gzip
          // member's mtime) changes nothing that is checked: the payload is intact.
          assertThat(o.trailer()).as("%s: trailer byte %d", c, p - payloadEnd)
              .contains(trailer);
          assertThat(o.migration()).isEqualTo(migration);
          continue;
        }
        detected++;
      }
    }
    assertThat(detected).isGreaterThan(positions.size() * 3 / 4);
  }

  @Test
  void rawTrailer_isTheRecordAfterThePayload() throws Exception {
    byte[] migration = payload(5000);
    byte[] image = write(Compression.RAW, migration, true);
    int offset = (int) SaveImageHeader.decode(image).payloadOffset();
    assertThat(Arrays.copyOfRange(image, offset, offset + migration.length)).isEqualTo(migration);
    ByteBuffer t = ByteBuffer.wrap(image, offset + migration.length, ImageTrailer.SIZE)
        .order(ByteOrder.LITTLE_ENDIAN);
    assertThat(new String(image, offset + migration.length, 16)).isEqualTo("CryoImageTrailer");
    assertThat(t.getInt(offset + migration.length + 16)).isEqualTo(1);
    assertThat(t.getLong(offset + migration.length + 24)).isEqualTo(migration.length);
    assertThat(image.length).isEqualTo(offset + migration.length + ImageTrailer.SIZE);
  }

  @Test
  void oldImage_withoutTrailer_isReadWhole() throws Exception {
    byte[] migration = payload(20_000);
    byte[] image = withoutTrailer(write(Compression.GZIP, migration, true));
    Outcome o = restore(image);
    assertThat(o.dataLoss()).isFalse();
    assertThat(o.trailer()).isEmpty();
    assertThat(o.migration()).isEqualTo(migration);
    try (SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image))) {
      r.payload().readAllBytes();
      int offset = (int) r.header().payloadOffset();
      assertThat(r.finish(migration.length).sha256()).isEqualTo(
          SaveImageFormatTest.sha256(Arrays.copyOfRange(image, offset, image.length)));
    }
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"RAW", "XZ", "ZSTD"})
  void announcedTrailer_missing_isDataLoss(Compression c) throws Exception {
    byte[] image = write(c, payload(20_000), true);
    byte[] stripped = withoutTrailer(image);
    // Put the header's announcement back: the image lost only its trailer.
    System.arraycopy(image, 0, stripped, 0, SaveImageHeader.SIZE);
    assertThatThrownBy(
            () -> {
              try (SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(stripped))) {
                r.finish(r.payload().readAllBytes().length);
              }
            })
        .hasFieldOrPropertyWithValue("reason", Reason.IMAGE_TRUNCATED)
        .hasMessageContaining("announces a digest trailer");
  }

  @Test
  void zstd_framesCarryTheirChecksum_andACorruptOneIsDataLoss() throws Exception {
    byte[] migration = payload(100_000);
    byte[] image = write(Compression.ZSTD, migration, true);
    ImageTrailer trailer = restore(image).trailer().orElseThrow();
    int offset = (int) SaveImageHeader.decode(image).payloadOffset();
    // Frame header descriptor: bit 2 is Content_Checksum_flag.
    assertThat(image[offset + 4] & 0x04).isEqualTo(0x04);
    // The last 4 bytes of the payload's frame are its content checksum.
    byte[] bad = image.clone();
    bad[offset + (int) trailer.payloadBytes() - 2] ^= 1;
    assertThatThrownBy(
            () -> SaveImageReader.open(new ByteArrayInputStream(bad)).payload().readAllBytes())
        .hasFieldOrPropertyWithValue("reason", Reason.IMAGE_CORRUPT)
        .hasMessageContaining("zstd payload")
        .hasMessageContaining("hecksum");
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"LZOP", "SPARSE"},
      mode = EnumSource.Mode.EXCLUDE)
  void find_locatesTheTrailerInTheLastBytes(Compression c) throws Exception {
    byte[] image = write(c, payload(30_000), true);
    ImageTrailer expected = restore(image).trailer().orElseThrow();
    int offset = (int) SaveImageHeader.decode(image).payloadOffset();
    byte[] tail = Arrays.copyOfRange(image, Math.max(offset,
        image.length - ImageTrailer.MAX_UNIT_BYTES), image.length);
    assertThat(ImageTrailer.find(c, tail, image.length - offset)).contains(expected);
    assertThat(ImageTrailer.find(c, tail, image.length - offset + 1)).isEmpty();
  }

  @Test
  void pieces_holdTheTrailerBackFromQemu_whateverTheChunkSizes() throws Exception {
    byte[] migration = payload(70_000);
    byte[] image = write(Compression.RAW, migration, true);
    for (long seed = 0; seed < 20; seed++) {
      assertThat(readPieces(image, seed)).isEqualTo(migration);
    }
    byte[] old = withoutTrailer(image);
    for (long seed = 0; seed < 5; seed++) {
      assertThat(readPieces(old, seed)).isEqualTo(migration);
    }
  }

  /** Reads a raw image as the server's zero-copy stream restore does, in random chunk sizes. */
  private static byte[] readPieces(byte[] image, long seed) throws IOException {
    Random r = new Random(seed);
    List<byte[]> chunks = new ArrayList<>();
    for (int i = 0; i < image.length; ) {
      int n = Math.min(image.length - i, r.nextBoolean() ? 1 + r.nextInt(100)
          : 1 + r.nextInt(30_000));
      chunks.add(Arrays.copyOfRange(image, i, i + n));
      i += n;
    }
    FakeChunks in = new FakeChunks(chunks);
    ByteArrayOutputStream qemu = new ByteArrayOutputStream();
    try (SaveImageReader reader = SaveImageReader.open(in)) {
      for (ChunkedImageStream.Piece p; (p = reader.nextPiece(in)) != null; ) {
        for (ByteBuffer b : p.views()) {
          byte[] copy = new byte[b.remaining()];
          b.get(copy);
          qemu.write(copy);
        }
        reader.storedPiece(p);
      }
      PayloadSummary s = reader.finish(qemu.size());
      int offset = (int) reader.header().payloadOffset();
      assertThat(s.sha256()).isEqualTo(SaveImageFormatTest.sha256(Arrays.copyOfRange(image,
          offset, (int) (offset + s.storedBytes()))));
      reader.trailer().ifPresent(t -> assertThat(t.sha256()).isEqualTo(s.sha256()));
    }
    assertThat(in.released.get()).as("pieces handed out and released").isEqualTo(in.handedOut);
    return qemu.toByteArray();
  }

  /** An image as written before trailers: no trailer unit, no announcement in the header. */
  static byte[] withoutTrailer(byte[] image) {
    Outcome o = restore(image);
    int offset = (int) SaveImageHeader.decode(image).payloadOffset();
    byte[] old = Arrays.copyOf(image, offset + (int) o.trailer().orElseThrow().payloadBytes());
    Arrays.fill(old, ImageTrailer.HEADER_MARK_OFFSET, ImageTrailer.HEADER_MARK_OFFSET + 4,
        (byte) 0);
    return old;
  }

  /** A client's chunks, readable as a stream and as pieces; counts releases. */
  static final class FakeChunks extends ChunkedImageStream {
    private final List<byte[]> chunks;
    private int index;
    private int pos;
    final AtomicInteger released = new AtomicInteger();
    int handedOut;

    FakeChunks(List<byte[]> chunks) {
      this.chunks = chunks;
    }

    @Override
    public int read() {
      while (index < chunks.size() && pos == chunks.get(index).length) {
        index++;
        pos = 0;
      }
      return index == chunks.size() ? -1 : chunks.get(index)[pos++] & 0xff;
    }

    @Override
    public Piece nextPiece() {
      while (index < chunks.size() && pos == chunks.get(index).length) {
        index++;
        pos = 0;
      }
      if (index == chunks.size()) {
        return null;
      }
      byte[] c = chunks.get(index);
      ByteBuffer b = ByteBuffer.wrap(c, pos, c.length - pos).slice().asReadOnlyBuffer();
      pos = c.length;
      handedOut++;
      return new Piece(new ByteBuffer[] {b}, released::incrementAndGet);
    }
  }
}
