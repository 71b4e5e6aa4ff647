package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.ImageInfo;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Save images in the header variants libvirt reads that Cryo itself never writes: version 1
 * (libvirt reads every version up to 2, and ignores the format word before 2) and libvirt 11.2's
 * "sparse" format (code 6, QEMU's mapped-ram), which GetImageInfo describes and a restore refuses
 * with what to do instead. The guest is saved once; each case restores an edited copy.
 */
@Timeout(600)
class LibvirtImageFormatsTest {
  static final String NAME = "formats-guest";

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Images images;
  /** A raw image of the guest, as Cryo wrote it, and the guest's last beat before the save. */
  static byte[] saved;
  static GuestProbe.Beat beforeSave;

  @BeforeAll
  static void saveGuestOnce() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    images = cryo.client().images();
    domains.define(GuestProbe.xml(NAME, 128, 8));
    domains.start(NAME);
    beforeSave = GuestProbe.awaitBooted(domains, NAME);
    Path image = cryo.imagesDir().resolve("saved.save");
    images.saveToServer(NAME, image.toString(), SaveOptions.defaults());
    saved = Files.readAllBytes(image);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    } finally {
      cryo.close();
    }
  }

  /** A copy of the saved image with its header edited, in the server's image folder. */
  static String edited(String file, Consumer<ByteBuffer> edit) throws IOException {
    byte[] copy = saved.clone();
    edit.accept(ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN));
    Path p = cryo.imagesDir().resolve(file);
    Files.write(p, copy);
    return p.toString();
  }

  /**
   * Clears the header's announcement of Cryo's digest trailer (its last unused word), as in an
   * image libvirt wrote: the trailer is codec-native, so it can't be read under another format.
   */
  static ByteBuffer asLibvirtWroteIt(ByteBuffer header) {
    return header.putInt(88, 0);
  }

  /** Each case starts from a shut-off domain, whatever ran before it. */
  static void shutOff() {
    if (domains.get(NAME).state() != DomainState.SHUTOFF) {
      domains.destroy(NAME);
    }
  }

  @Test
  void version1Image_restores_withItsFormatWordIgnored_asLibvirtDoes() throws Exception {
    shutOff();
    // Version 1 predates compression; libvirt hands its payload to QEMU as it is. A non-zero
    // format word (here zstd's code) must not make Cryo try to decompress a raw stream.
    String v1 = edited("v1.save", b -> b.putInt(16, 1).putInt(28, 5));
    ImageInfo info = images.info(v1);
    assertThat(info.compression()).isEqualTo(ImageCompression.RAW);

    Restored r = images.restoreFromServer(v1, RestoreOptions.defaults());
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    GuestProbe.assertCarriesOn(domains, NAME, beforeSave);
  }

  @Test
  void sparseImage_isDescribed_andItsRestoreRefusedSayingWhatReadsIt() throws Exception {
    shutOff();
    String sparse = edited("sparse.save", b -> asLibvirtWroteIt(b).putInt(28, 6));
    ImageInfo info = images.info(sparse);
    assertThat(info.compression()).isEqualTo(ImageCompression.SPARSE);
    assertThat(info.xml()).contains("<name>" + NAME + "</name>");
    assertThat(info.libvirtCompatible()).isTrue();
    assertThat(info.libvirtRestorableBy()).contains("libvirt 11.2").contains("mapped-ram");

    assertThatThrownBy(() -> images.restoreFromServer(sparse, RestoreOptions.defaults()))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(CryoException.ErrorCode.INVALID_ARGUMENT);
          assertThat(e.getMessage()).contains("'sparse'").contains("mapped-ram")
              .contains("save_image_format 'raw'");
        });
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    cryo.assertNoGuestRunning();
    assertThat(Files.exists(Path.of(sparse))).as("the refused image is kept").isTrue();
  }

  @Test
  void everyFormat_saysWhichLibvirtRestoresIt() throws Exception {
    shutOff();
    assertThat(images.info(edited("zstd.save", b -> asLibvirtWroteIt(b).putInt(28, 5))).libvirtRestorableBy())
        .contains("after 9.0");
    assertThat(images.info(edited("raw.save", b -> { })).libvirtRestorableBy())
        .startsWith("any libvirt");
  }
}
