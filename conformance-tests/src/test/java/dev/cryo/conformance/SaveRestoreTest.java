package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.AfterSave;
import dev.cryo.client.Cancellation;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainJob;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.ImageInfo;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveProgress;
import dev.cryo.client.SaveSummary;
import dev.cryo.client.StateReason;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Save and restore of one real guest that has filled part of its memory, through every path:
 * server file, stream, managed save, every compression. After each restore the guest carries on:
 * same boot, the heartbeat continues, its memory checksum is unchanged.
 */
@Timeout(900)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SaveRestoreTest {
  static final String NAME = "sr-guest";

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Images images;
  static GuestProbe.Beat beat;

  @BeforeAll
  static void bootGuest() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    images = cryo.client().images();
    domains.define(GuestProbe.xml(NAME, 128, 16));
    domains.start(NAME);
    beat = GuestProbe.awaitBooted(domains, NAME);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    } finally {
      cryo.close();
    }
  }

  static String serverPath(String file) {
    return cryo.imagesDir().resolve(file).toString();
  }

  @LocalServer("checks the server's state folder for temporary files")
  @Test
  @Order(1)
  void saveToServer_raw_thenRestoreFromServer() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    List<SaveProgress> progress = new CopyOnWriteArrayList<>();
    SaveSummary s = images.saveToServer(NAME, serverPath("raw.save"),
        SaveOptions.defaults().progress(progress::add));
    assertThat(s.domain().state()).isEqualTo(DomainState.SHUTOFF);
    assertThat(s.domain().reason()).isEqualTo(StateReason.SAVED);
    assertThat(s.sha256()).hasSize(64);
    assertThat(s.migrationBytes()).isPositive();
    assertThat(s.payloadBytes()).isEqualTo(s.migrationBytes());
    assertThat(Files.size(Path.of(serverPath("raw.save")))).isEqualTo(s.imageBytes());
    assertThat(progress).isNotEmpty();

    ImageInfo info = images.info(serverPath("raw.save"));
    assertThat(info.compression()).isEqualTo(ImageCompression.RAW);
    assertThat(info.wasRunning()).isTrue();
    assertThat(info.sha256()).isEqualTo(s.sha256());
    assertThat(info.xml()).contains("<name>" + NAME + "</name>");

    Restored r = images.restoreFromServer(serverPath("raw.save"), RestoreOptions.defaults());
    assertThat(r.verified()).isTrue();
    assertThat(r.warnings()).isEmpty();
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    assertThat(r.domain().reason()).isEqualTo(StateReason.RESTORED);
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    assertNoTempFiles();
  }

  @Test
  @Order(2)
  void saveToLocalFile_zstd_thenRestoreItVerifiedByItsOwnDigest() throws Exception {
    Path local = temp.resolve("stream.zst.save");
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    SaveSummary s = images.save(NAME, local, SaveOptions.defaults()
        .compression(ImageCompression.ZSTD));
    assertThat(s.serverPath()).isNull();
    assertThat(Files.size(local)).isEqualTo(s.imageBytes());
    assertThat(s.payloadBytes()).isLessThan(s.migrationBytes());
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    // The SDK wrote the digest into the local file's XML, as the server does for its files: the
    // file verifies itself, with no trailer.
    byte[] head = new byte[128 << 10];
    try (var in = Files.newInputStream(local)) {
      head = in.readNBytes(head.length);
    }
    assertThat(new String(head, java.nio.charset.StandardCharsets.ISO_8859_1))
        .contains("sha256=\"" + s.sha256() + "\"")
        .contains("payload-bytes=\"" + s.payloadBytes() + "\"");
    Restored r = images.restore(local, RestoreOptions.defaults());
    assertThat(r.verified()).isTrue();
    assertThat(r.warnings()).isEmpty();
    assertThat(r.payloadBytes()).isEqualTo(s.payloadBytes());
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
  }

  @Test
  @Order(3)
  void saveAndRestore_everyCompression() throws Exception {
    for (ImageCompression c : List.of(ImageCompression.GZIP, ImageCompression.BZIP2,
        ImageCompression.XZ, ImageCompression.LZ4, ImageCompression.ZSTD)) {
      String file = serverPath("every." + c.name().toLowerCase() + ".save");
      beat = GuestProbe.latest(domains, NAME, beat.checksum());
      SaveSummary s = images.saveToServer(NAME, file, SaveOptions.defaults().compression(c)
          .level(c == ImageCompression.XZ ? 1 : 0));
      assertThat(images.info(file).compression()).as(c.name()).isEqualTo(c);
      assertThat(images.info(file).libvirtCompatible()).isEqualTo(c != ImageCompression.LZ4);
      assertThat(s.payloadBytes()).as(c.name()).isLessThan(s.migrationBytes());
      Restored r = images.restoreFromServer(file, RestoreOptions.defaults());
      assertThat(r.verified()).isTrue();
      beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
      Files.delete(Path.of(file));
    }
  }

  @Test
  @Order(4)
  void managedSave_startRestoresIt() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    SaveSummary s = images.saveManaged(NAME, SaveOptions.defaults()
        .compression(ImageCompression.ZSTD));
    assertThat(s.domain().hasManagedSave()).isTrue();
    assertThat(images.hasManagedSave(NAME)).isTrue();
    Domain started = domains.start(NAME);
    assertThat(started.state()).isEqualTo(DomainState.RUNNING);
    assertThat(started.reason()).isEqualTo(StateReason.RESTORED);
    assertThat(started.hasManagedSave()).isFalse();
    assertThat(images.hasManagedSave(NAME)).isFalse();
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
  }

  @Test
  @Order(5)
  void save_afterContinue_keepsGuestRunning() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    SaveSummary s = images.saveToServer(NAME, serverPath("cont.save"),
        SaveOptions.defaults().after(AfterSave.CONTINUE));
    assertThat(s.domain().state()).isEqualTo(DomainState.RUNNING);
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    Files.delete(Path.of(serverPath("cont.save")));
  }

  @LocalServer("checks the server's state folder for temporary files")
  @Test
  @Order(6)
  void save_cancelled_guestCarriesOnAndNoFileLeft() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    Cancellation cancel = new Cancellation();
    OutputStream slow = new OutputStream() {
      private long seen;

      @Override
      public void write(int b) {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) {
        seen += len;
        if (seen > (4 << 20)) {
          cancel.cancel();
        }
      }
    };
    assertThatThrownBy(() -> images.save(NAME, slow, SaveOptions.defaults().cancellation(cancel)))
        .isInstanceOf(CryoException.class)
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.CANCELLED);
    // The server undoes the save: the guest runs on.
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
    assertNoTempFiles();
  }

  @Test
  @Order(7)
  void restore_ontoRunningDomain_isFailedPrecondition() throws Exception {
    Path local = temp.resolve("stream.zst.save");
    assertThat(local).exists();
    assertThatThrownBy(() -> images.restore(local, RestoreOptions.defaults()))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
  }

  @LocalServer("checks the server's state folder for temporary files")
  @Test
  @Order(8)
  void save_abortedAsDomjobabort_guestCarriesOnAndNoFileLeft() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    // xz is slow enough that the save is still moving memory when the abort arrives.
    CountDownLatch moving = new CountDownLatch(1);
    SaveOptions slow = SaveOptions.defaults().compression(ImageCompression.XZ).level(6)
        .progress(p -> {
          if (p.phase().equals("TRANSFER") && p.processedBytes() > 0) {
            moving.countDown();
          }
        });
    String target = serverPath("aborted.save");
    CompletableFuture<SaveSummary> save = CompletableFuture.supplyAsync(
        () -> images.saveToServer(NAME, target, slow));
    assertThat(moving.await(120, TimeUnit.SECONDS)).as("save progress").isTrue();
    DomainJob job = domains.job(NAME).orElseThrow();
    assertThat(job.operation()).isEqualTo("save");
    assertThat(job.phase()).isEqualTo("memory");
    assertThat(job.processedBytes()).isPositive();
    assertThat(job.abortable()).isTrue();
    domains.abortJob(NAME);
    assertThatThrownBy(save::join).cause().isInstanceOfSatisfying(CryoException.class,
        e -> assertThat(e.code()).isEqualTo(ErrorCode.CANCELLED));
    assertThat(domains.job(NAME)).isEmpty();
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
    assertThat(Path.of(target)).doesNotExist();
    assertNoTempFiles();
  }

  static void assertNoTempFiles() throws IOException {
    try (Stream<Path> files = Files.walk(cryo.stateDir())) {
      assertThat(files.filter(f -> f.getFileName().toString().endsWith(".tmp")
          || f.getFileName().toString().endsWith(".sock") && f.toString().contains("save"))
          .toList()).isEmpty();
    }
  }
}
