package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Cancellation;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kind of bad image and bad request gets its precise status, and leaves nothing behind: no
 * QEMU process, no socket or temp file, no domain that was not defined before. The guest is saved
 * once; each case restores a damaged copy of that image.
 */
@Timeout(600)
class ImageErrorsTest {
  static final String NAME = "err-guest";

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Images images;
  /** A good zstd image of the guest, as bytes. */
  static byte[] zstdImage;
  static SaveSummary zstdSummary;
  /** A good raw image of the guest in the server's image folder. */
  static Path rawImage;

  @BeforeAll
  static void saveGuestOnce() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    images = cryo.client().images();
    domains.define(GuestProbe.xml(NAME, 128, 8));
    domains.start(NAME);
    GuestProbe.awaitBooted(domains, NAME);
    rawImage = cryo.imagesDir().resolve("good.raw.save");
    images.saveToServer(NAME, rawImage.toString(), SaveOptions.defaults().after(
        dev.cryo.client.AfterSave.CONTINUE));
    Path local = temp.resolve("good.zst");
    zstdSummary = images.save(NAME, local, SaveOptions.defaults()
        .compression(ImageCompression.ZSTD));
    zstdImage = Files.readAllBytes(local);
    // The damaged images below must not find their domain defined: each failed restore must
    // leave it undefined again.
    domains.undefine(NAME, true);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    } finally {
      cryo.close();
    }
  }

  static ErrorCode restoreCode(byte[] image, String sha256, long payloadBytes) {
    try {
      Restored r = images.restore(new ByteArrayInputStream(image), sha256, payloadBytes,
          RestoreOptions.defaults());
      throw new AssertionError("restore succeeded: " + r);
    } catch (CryoException e) {
      assertNothingLeft();
      return e.code();
    }
  }

  static String restoreMessage(byte[] image) {
    try {
      images.restore(new ByteArrayInputStream(image), null, 0, RestoreOptions.defaults());
      throw new AssertionError("restore succeeded");
    } catch (CryoException e) {
      return e.getMessage();
    }
  }

  static void assertNothingLeft() {
    assertThat(domains.list(Set.of())).extracting(Domain::name).doesNotContain(NAME);
    cryo.assertNoGuestRunning();
  }

  static byte[] damaged(Consumer<ByteBuffer> edit) {
    byte[] copy = zstdImage.clone();
    edit.accept(ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN));
    return copy;
  }

  @Test
  void restore_wrongMagic_isInvalidArgument() {
    byte[] image = damaged(b -> b.put(0, (byte) 'X'));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    assertThat(restoreMessage(image)).contains("not a libvirt QEMU save image");
  }

  @Test
  void restore_partialImage_isDataLoss() {
    byte[] image = damaged(b -> b.put(12, "Part".getBytes(StandardCharsets.US_ASCII)));
    assertThat(new String(image, 0, 16, StandardCharsets.US_ASCII)).isEqualTo("LibvirtQemudPart");
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.DATA_LOSS);
    assertThat(restoreMessage(image)).contains("incomplete");
  }

  @Test
  void restore_unknownVersion_isInvalidArgument() {
    assertThat(restoreCode(damaged(b -> b.putInt(16, 3)), null, 0))
        .isEqualTo(ErrorCode.INVALID_ARGUMENT);
  }

  @Test
  void restore_hugeDataLen_isInvalidArgument() {
    byte[] image = damaged(b -> b.putInt(20, 0x40000000));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    assertThat(restoreMessage(image)).contains("data_len");
  }

  @Test
  void restore_unknownCompression_isInvalidArgument() {
    byte[] image = damaged(b -> b.putInt(28, 77));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    assertThat(restoreMessage(image)).contains("unknown compression code 77");
  }

  @Test
  void restore_lzop_isInvalidArgumentNamingLzop() {
    byte[] image = damaged(b -> b.putInt(28, 4));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    assertThat(restoreMessage(image)).contains("lzop");
  }

  @Test
  void info_lzopHeader_reportsLzopNotRaw() throws Exception {
    byte[] image = damaged(b -> b.putInt(28, 4));
    byte[] head = Arrays.copyOf(image, Math.min(image.length, 1 << 20));
    assertThat(images.infoOfHead(head).compression()).isEqualTo(ImageCompression.LZOP);
    io.grpc.ManagedChannel channel = RawCalls.transport(cryo.target());
    try {
      dev.cryo.api.v1.ImageServiceGrpc.ImageServiceBlockingStub stub =
          dev.cryo.api.v1.ImageServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
      dev.cryo.api.v1.GetImageInfoResponse info = stub.getImageInfo(
          dev.cryo.api.v1.GetImageInfoRequest.newBuilder()
              .setHead(com.google.protobuf.ByteString.copyFrom(head)).build());
      assertThat(info.getCompression()).isEqualTo(dev.cryo.api.v1.Compression.COMPRESSION_LZOP);
      assertThat(info.getLibvirtCompatible()).isTrue();
      // The good image beside it still reports what it is.
      assertThat(stub.getImageInfo(dev.cryo.api.v1.GetImageInfoRequest.newBuilder()
          .setHead(com.google.protobuf.ByteString.copyFrom(zstdImage, 0, head.length)).build())
          .getCompression()).isEqualTo(dev.cryo.api.v1.Compression.COMPRESSION_ZSTD);
      // Asking to save with lzop is refused up front, naming it.
      assertThatThrownBy(() -> stub.saveDomain(dev.cryo.api.v1.SaveDomainRequest.newBuilder()
          .setName(NAME).setStream(true)
          .setCompression(dev.cryo.api.v1.Compression.COMPRESSION_LZOP).build()).hasNext())
          .satisfies(e -> {
            io.grpc.Status st = io.grpc.Status.fromThrowable(e);
            assertThat(st.getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
            assertThat(st.getDescription()).contains("lzop");
          });
    } finally {
      channel.shutdownNow();
    }
  }

  @Test
  void restore_xmlDoesNotParse_isInvalidArgument() {
    byte[] image = damaged(b -> b.put(92, (byte) '!'));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    assertThat(restoreMessage(image)).contains("domain XML in the save image");
  }

  @Test
  void restore_xmlNotADomain_isInvalidArgument() {
    byte[] image = damaged(b -> b.put(93, "network".getBytes(StandardCharsets.US_ASCII)));
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.INVALID_ARGUMENT);
  }

  @Test
  void restore_truncatedInHeader_isDataLoss() {
    assertThat(restoreCode(Arrays.copyOf(zstdImage, 50), null, 0))
        .isEqualTo(ErrorCode.DATA_LOSS);
  }

  @Test
  void restore_truncatedInXml_isDataLoss() {
    assertThat(restoreCode(Arrays.copyOf(zstdImage, 2000), null, 0))
        .isEqualTo(ErrorCode.DATA_LOSS);
  }

  @Test
  void restore_truncatedInPayload_isDataLoss() {
    byte[] image = Arrays.copyOf(zstdImage, zstdImage.length - 100_000);
    assertThat(restoreCode(image, zstdSummary.sha256(), zstdSummary.payloadBytes()))
        .isEqualTo(ErrorCode.DATA_LOSS);
    assertThat(restoreCode(image, null, 0)).isEqualTo(ErrorCode.DATA_LOSS);
  }

  @Test
  void restore_wrongTrailerDigest_isDataLoss() {
    String wrong = "0".repeat(64);
    assertThat(restoreCode(zstdImage, wrong, zstdSummary.payloadBytes()))
        .isEqualTo(ErrorCode.DATA_LOSS);
  }

  @Test
  void restore_flippedBitInRawFile_isDataLoss() throws Exception {
    Path bad = cryo.imagesDir().resolve("flipped.save");
    Files.copy(rawImage, bad);
    try (RandomAccessFile f = new RandomAccessFile(bad.toFile(), "rw")) {
      long at = f.length() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x04);
    }
    assertThatThrownBy(() -> images.restoreFromServer(bad.toString(), RestoreOptions.defaults()))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.DATA_LOSS);
    assertNothingLeft();
    Files.delete(bad);
  }

  @Test
  void restore_pathOutsideImageFolders_isPermissionDenied() throws Exception {
    assertThatThrownBy(() -> images.restoreFromServer("/etc/passwd", RestoreOptions.defaults()))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.PERMISSION_DENIED);
    // A folder that is no image folder of the kit's server (its temp folder is one).
    Path outside = Files.createTempDirectory("cryo-outside-");
    Path link = cryo.imagesDir().resolve("escape.save");
    Files.createSymbolicLink(link, Files.copy(temp.resolve("good.zst"),
        outside.resolve("good.zst")));
    try {
      assertThatThrownBy(() -> images.restoreFromServer(link.toString(),
          RestoreOptions.defaults()))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.PERMISSION_DENIED);
      assertThatThrownBy(() -> images.info(link.toString()))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.PERMISSION_DENIED);
      assertThatThrownBy(() -> images.saveToServer(NAME, outside.resolve("x.save").toString(),
          SaveOptions.defaults()))
          .extracting(e -> ((CryoException) e).code()).isIn(ErrorCode.PERMISSION_DENIED);
      assertThat(outside.resolve("x.save")).doesNotExist();
    } finally {
      Files.delete(link);
      Files.delete(outside.resolve("good.zst"));
      Files.delete(outside);
    }
    assertNothingLeft();
  }

  @Test
  void restore_cancelledMidStream_leavesNothing() throws Exception {
    java.util.concurrent.CountDownLatch undefined = new java.util.concurrent.CountDownLatch(1);
    AutoCloseable watch = domains.watch(NAME, e -> {
      if (e.type() == dev.cryo.client.DomainEvent.Type.UNDEFINED) {
        undefined.countDown();
      }
    });
    Cancellation cancel = new Cancellation();
    InputStream slow = new InputStream() {
      private int pos;

      @Override
      public int read() {
        throw new UnsupportedOperationException();
      }

      @Override
      public int read(byte[] b, int off, int len) {
        if (pos >= zstdImage.length / 2) {
          cancel.cancel();
          return -1;
        }
        int n = Math.min(len, Math.min(256 * 1024, zstdImage.length / 2 - pos));
        System.arraycopy(zstdImage, pos, b, off, n);
        pos += n;
        return n;
      }
    };
    assertThatThrownBy(() -> images.restore(slow, null, 0,
        RestoreOptions.defaults().cancellation(cancel)))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.CANCELLED);
    try {
      assertNothingLeftEventually(undefined);
    } finally {
      watch.close();
    }
  }

  @Test
  void restore_goodImageAfterAll_works() throws IOException {
    // The good image itself restores: the damage above was what failed.
    Restored r = images.restore(new ByteArrayInputStream(zstdImage), zstdSummary.sha256(),
        zstdSummary.payloadBytes(), RestoreOptions.defaults().start(DomainState.PAUSED));
    try {
      assertThat(r.verified()).isTrue();
      assertThat(r.domain().state()).isEqualTo(DomainState.PAUSED);
      assertThatThrownBy(() -> images.restore(new ByteArrayInputStream(zstdImage), null, 0,
          RestoreOptions.defaults()))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    }
  }

  /**
   * A cancel reaches the server asynchronously: wait for the restore's domain to be undefined
   * again (the server's own event), then check that nothing is left.
   */
  static void assertNothingLeftEventually(java.util.concurrent.CountDownLatch undefined)
      throws InterruptedException {
    assertThat(undefined.await(60, java.util.concurrent.TimeUnit.SECONDS))
        .as("the half-restored domain was undefined").isTrue();
    assertNothingLeft();
  }
}
