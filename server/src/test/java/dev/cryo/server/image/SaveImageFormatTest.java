package dev.cryo.server.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.ErrorKind;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(120)
class SaveImageFormatTest {
  static final String XML =
      """
      <domain type='kvm'>
        <name>img</name>
        <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
        <memory unit='KiB'>131072</memory>
        <vcpu>1</vcpu>
        <os><type arch='x86_64' machine='pc'>hvm</type></os>
      </domain>
      """;

  @TempDir Path temp;

  /** A payload that compresses somewhat: zero runs, text and noise. */
  static byte[] payload(int size) {
    byte[] b = new byte[size];
    Random r = new Random(42);
    for (int i = 0; i < size; i += 4096) {
      int kind = (i / 4096) % 3;
      for (int j = i; j < Math.min(size, i + 4096); j++) {
        b[j] = switch (kind) {
          case 0 -> 0;
          case 1 -> (byte) ("the quick brown fox ".charAt(j % 20));
          default -> (byte) r.nextInt();
        };
      }
    }
    return b;
  }

  static byte[] write(Compression c, byte[] payload, boolean complete) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    SaveImageWriter w = SaveImageWriter.start(out, XML, true, c, 0, complete);
    for (int i = 0; i < payload.length; i += 10_000) {
      w.payload().write(payload, i, Math.min(10_000, payload.length - i));
    }
    PayloadSummary s = w.finish();
    byte[] image = out.toByteArray();
    long offset = w.header().payloadOffset();
    // The payload, then the trailer's unit: a few dozen bytes.
    assertThat(w.trailerBytes()).isBetween(ImageTrailer.SIZE / 2, 200);
    assertThat(s.storedBytes()).isEqualTo(image.length - offset - w.trailerBytes());
    assertThat(s.rawBytes()).isEqualTo(payload.length);
    assertThat(s.sha256()).isEqualTo(sha256(Arrays.copyOfRange(image, (int) offset,
        (int) (offset + s.storedBytes()))));
    return image;
  }

  static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"LZOP", "SPARSE"},
      mode = EnumSource.Mode.EXCLUDE)
  void roundTrip_everyCodec(Compression c) throws Exception {
    byte[] payload = payload(300_000);
    byte[] image = write(c, payload, true);
    SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image));
    assertThat(r.header().compression()).isEqualTo(c);
    assertThat(r.header().wasRunning()).isTrue();
    assertThat(r.parsed().def().getName()).isEqualTo("img");
    byte[] back = r.payload().readAllBytes();
    assertThat(back).isEqualTo(payload);
    PayloadSummary s = r.finish(back.length);
    int offset = (int) r.header().payloadOffset();
    assertThat(s.sha256()).isEqualTo(sha256(Arrays.copyOfRange(image, offset,
        (int) (offset + s.storedBytes()))));
    assertThat(r.trailer()).contains(new ImageTrailer(s.storedBytes(), payload.length,
        s.sha256()));
    if (c != Compression.RAW) {
      assertThat(s.storedBytes()).isLessThan(payload.length);
    }
  }

  @Test
  void header_layoutIsLibvirts() throws Exception {
    byte[] image = write(Compression.ZSTD, payload(1000), true);
    ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(new String(image, 0, 16, StandardCharsets.US_ASCII)).isEqualTo("LibvirtQemudSave");
    assertThat(b.getInt(16)).isEqualTo(2);
    int dataLen = b.getInt(20);
    assertThat(dataLen).isEqualTo(XML.getBytes(StandardCharsets.UTF_8).length + 1 + 65536);
    assertThat(b.getInt(24)).isEqualTo(1);
    assertThat(b.getInt(28)).isEqualTo(5);
    assertThat(b.getInt(32)).isZero();
    assertThat(Arrays.copyOfRange(image, 36, 88)).containsOnly(0);
    // The last unused word announces the digest trailer: "CrT1".
    assertThat(new String(image, 88, 4, StandardCharsets.US_ASCII)).isEqualTo("CrT1");
    assertThat(new String(image, 92, XML.length(), StandardCharsets.UTF_8)).isEqualTo(XML);
    assertThat(image[92 + XML.length()]).isZero();
  }

  @Test
  void open_partialMagic_isDataLoss() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), false);
    assertThat(new String(image, 0, 16, StandardCharsets.US_ASCII)).isEqualTo("LibvirtQemudPart");
    assertThatThrownBy(() -> SaveImageReader.open(new ByteArrayInputStream(image)))
        .hasFieldOrPropertyWithValue("reason", Reason.IMAGE_TRUNCATED)
        .hasMessageContaining("incomplete");
  }

  @Test
  void complete_flipsMagicAndRecordsDigest() throws Exception {
    Path file = temp.resolve("x.save");
    byte[] payload = payload(50_000);
    PayloadSummary s;
    SaveImageHeader header;
    int trailerBytes;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE, StandardOpenOption.READ)) {
      var out = java.nio.channels.Channels.newOutputStream(ch);
      SaveImageWriter w = SaveImageWriter.start(out, XML, false, Compression.GZIP, 0, false);
      w.payload().write(payload);
      s = w.finish();
      trailerBytes = w.trailerBytes();
      header = w.header();
      assertThatThrownBy(() -> SaveImageFile.info(file))
          .hasFieldOrPropertyWithValue("reason", Reason.IMAGE_TRUNCATED);
      String xml = ImageXml.withDigest(ImageXml.parse(XML).def(),
          new ImageXml.Digest(s.sha256(), s.storedBytes()));
      SaveImageFile.complete(ch, header, xml);
    }
    SaveImageFile.Info info = SaveImageFile.info(file);
    assertThat(info.wasRunning()).isFalse();
    assertThat(info.compression()).isEqualTo(Compression.GZIP);
    assertThat(info.payloadBytes()).isEqualTo(s.storedBytes() + trailerBytes);
    assertThat(info.verifiable()).isTrue();
    assertThat(info.digest()).contains(new ImageXml.Digest(s.sha256(), s.storedBytes()));
    assertThat(info.xml()).contains(ImageXml.NAMESPACE);
    try (InputStream in = Files.newInputStream(file)) {
      SaveImageReader r = SaveImageReader.open(in);
      assertThat(r.payload().readAllBytes()).isEqualTo(payload);
      assertThat(r.finish(payload.length).sha256()).isEqualTo(s.sha256());
    }
  }

  @Test
  void updateXml_keepsDigestAndRefusesOtherDomain() throws Exception {
    Path file = temp.resolve("u.save");
    Files.write(file, write(Compression.RAW, payload(10_000), true));
    String stored = SaveImageFile.updateXml(file,
        XML.replace("<vcpu>1</vcpu>", "<description>edited</description><vcpu>1</vcpu>"));
    assertThat(stored).contains("edited");
    assertThat(SaveImageFile.info(file).xml()).contains("edited");
    assertThatThrownBy(() -> SaveImageFile.updateXml(file, XML.replace("<name>img", "<name>o")))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("name and UUID");
    String huge = XML.replace("<vcpu>1</vcpu>", "<description>" + "x".repeat(70_000)
        + "</description><vcpu>1</vcpu>");
    assertThatThrownBy(() -> SaveImageFile.updateXml(file, huge))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("room for");
  }

  // ---- bad input, one case each ---------------------------------------------------------------

  static InvalidArgumentOrDataLoss open(byte[] image) {
    try {
      SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image));
      r.payload().readAllBytes();
      return null;
    } catch (CryoException e) {
      if (e.kind() != ErrorKind.BAD_REQUEST && e.kind() != ErrorKind.CORRUPT) {
        throw new AssertionError("neither INVALID_ARGUMENT nor DATA_LOSS: " + e, e);
      }
      return new InvalidArgumentOrDataLoss(e.kind() == ErrorKind.CORRUPT, e.getMessage());
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  record InvalidArgumentOrDataLoss(boolean dataLoss, String message) {}

  @Test
  void open_wrongMagic_isInvalidArgument() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    image[0] = 'X';
    assertThat(open(image)).isEqualTo(new InvalidArgumentOrDataLoss(false,
        "not a libvirt QEMU save image: it starts with 'XibvirtQemudSave' instead of "
            + "LibvirtQemudSave"));
  }

  @Test
  void open_unknownVersion_isInvalidArgument() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    image[16] = 7;
    assertThat(open(image).dataLoss()).isFalse();
    assertThat(open(image).message()).contains("version 7 is not supported");
  }

  @Test
  void open_byteSwappedHeader_isRead() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    ByteBuffer b = ByteBuffer.wrap(image);
    for (int off = 16; off < 36; off += 4) {
      b.order(ByteOrder.LITTLE_ENDIAN);
      int v = b.getInt(off);
      b.order(ByteOrder.BIG_ENDIAN).putInt(off, v);
    }
    assertThat(open(image)).isNull();
  }

  @Test
  void open_hugeDataLen_isInvalidArgument() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(20, 0x7fff0000);
    assertThat(open(image).dataLoss()).isFalse();
    assertThat(open(image).message()).contains("data_len").contains("beyond the limit");
  }

  @Test
  void open_unknownCompression_isInvalidArgument() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(28, 9);
    assertThat(open(image).message()).startsWith("unknown compression code 9");
  }

  @Test
  void open_lzop_isRefusedClearly() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(28, 4);
    assertThat(open(image).dataLoss()).isFalse();
    assertThat(open(image).message()).contains("lzop");
  }

  @Test
  void open_sparse_isReadAsSparseButItsPayloadRefusedNamingMappedRam() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(28, 6);
    // The header and XML read (GetImageInfo works); only the payload is refused.
    SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image));
    assertThat(r.header().compression()).isEqualTo(Compression.SPARSE);
    assertThat(r.parsed().def().getName()).isEqualTo("img");
    assertThat(open(image).dataLoss()).isFalse();
    assertThat(open(image).message()).contains("'sparse'").contains("mapped-ram")
        .contains("libvirt 11.2");
  }

  @Test
  void open_version1_isReadAndItsFormatWordIgnored_asLibvirtDoes() throws Exception {
    byte[] payload = payload(1000);
    byte[] image = write(Compression.RAW, payload, true);
    // Version 1 predates compression: libvirt feeds its payload to QEMU as it is, whatever the
    // (then unused) format word holds.
    ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 1).putInt(28, 5);
    SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(image));
    assertThat(r.header().compression()).isEqualTo(Compression.RAW);
    assertThat(r.payload().readAllBytes()).isEqualTo(payload);
    // ... byte-swapped too.
    ByteBuffer b = ByteBuffer.wrap(image);
    for (int off = 16; off < 36; off += 4) {
      int v = b.order(ByteOrder.LITTLE_ENDIAN).getInt(off);
      b.order(ByteOrder.BIG_ENDIAN).putInt(off, v);
    }
    assertThat(open(image)).isNull();
  }

  @Test
  void libvirtRestorableBy_namesAReleaseForEveryFormat() {
    for (Compression c : Compression.values()) {
      assertThat(c.libvirtRestorableBy()).as(c.label()).contains("libvirt").isNotBlank();
    }
    assertThat(Compression.ZSTD.libvirtRestorableBy()).contains("after 9.0");
    assertThat(Compression.LZ4.libvirtCompatible()).isFalse();
    assertThat(Compression.SPARSE.libvirtCompatible()).isTrue();
  }

  @Test
  void open_xmlNotParseable_isInvalidArgument() throws Exception {
    byte[] image = write(Compression.RAW, payload(100), true);
    image[92] = '!';
    assertThat(open(image).dataLoss()).isFalse();
    assertThat(open(image).message()).startsWith("the domain XML in the save image is not valid");
  }

  @Test
  void open_xmlNotADomain_isInvalidArgument() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    SaveImageWriter.start(out, "<network><name>n</name></network>", true, Compression.RAW, 0,
        true).finish();
    assertThat(open(out.toByteArray()).dataLoss()).isFalse();
    assertThat(open(out.toByteArray()).message()).contains("domain XML in the save image");
  }

  @Test
  void open_truncatedInHeader_isDataLoss() throws Exception {
    byte[] image = Arrays.copyOf(write(Compression.RAW, payload(100), true), 40);
    assertThat(open(image)).isEqualTo(new InvalidArgumentOrDataLoss(true,
        "save image truncated in the header: it ends after 40 of 92 bytes"));
  }

  @Test
  void open_truncatedInXml_isDataLoss() throws Exception {
    byte[] image = Arrays.copyOf(write(Compression.RAW, payload(100), true), 300);
    assertThat(open(image).dataLoss()).isTrue();
    assertThat(open(image).message()).contains("truncated in the domain XML");
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"GZIP", "BZIP2", "XZ", "ZSTD", "LZ4"})
  void open_truncatedInPayload_isDataLoss(Compression c) throws Exception {
    byte[] full = write(c, payload(200_000), true);
    byte[] image = Arrays.copyOf(full, full.length - 100);
    InvalidArgumentOrDataLoss result = open(image);
    assertThat(result).isNotNull();
    assertThat(result.dataLoss()).isTrue();
    assertThat(result.message()).contains("truncated or corrupt");
  }

  @Test
  void finish_flippedBitInRawPayload_changesDigest() throws Exception {
    byte[] image = write(Compression.RAW, payload(10_000), true);
    SaveImageReader good = SaveImageReader.open(new ByteArrayInputStream(image));
    String expected = good.finish(good.payload().readAllBytes().length).sha256();
    assertThat(good.trailer().orElseThrow().sha256()).isEqualTo(expected);
    image[image.length - ImageTrailer.SIZE - 5] ^= 0x10;
    SaveImageReader bad = SaveImageReader.open(new ByteArrayInputStream(image));
    assertThat(bad.finish(bad.payload().readAllBytes().length).sha256()).isNotEqualTo(expected);
    assertThat(bad.trailer().orElseThrow().sha256()).isEqualTo(expected);
  }

  @Test
  void forImage_declaresAcpiOnce() {
    String xml = ImageXml.forImage(dev.cryo.server.domain.DomainXml.format(
        ImageXml.parse(XML).def()));
    assertThat(xml).containsOnlyOnce("<features>").contains("<acpi/>");
    assertThat(ImageXml.forImage(xml)).isEqualTo(xml);
    assertThat(ImageXml.parse(xml).def().getName()).isEqualTo("img");
  }

  @Test
  void forImage_emptyFeatures_keptAsTheyAre() {
    // <features/> means ACPI off: adding <acpi/> would change the machine the image restores to
    String xml = "<domain type='qemu'>\n  <name>x</name>\n  <features/>\n</domain>\n";
    assertThat(ImageXml.forImage(xml)).isEqualTo(xml);
  }

  @Test
  void level_outOfRange_isInvalidArgument() {
    assertThatThrownBy(() -> Compression.ZSTD.level(30))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("1..19");
    assertThatThrownBy(() -> Compression.RAW.level(3))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("takes no level");
    assertThat(Compression.XZ.level(0)).isEqualTo(6);
  }
}
