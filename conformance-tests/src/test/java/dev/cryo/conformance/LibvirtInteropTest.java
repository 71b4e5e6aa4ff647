package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Images move between Cryo and libvirt, for every format both support (raw, gzip, bzip2, xz, and
 * zstd where libvirt has it; where it has not, as in 9.0, the difference Cryo documents is
 * asserted): a {@code virsh save} of the test guest, with a disk and a network card at the PCI
 * addresses libvirt chose, restores through Cryo and the guest carries on;
 * Cryo's save of it restores through {@code virsh restore} and carries on under libvirt. libvirt's
 * lzop images get Cryo's clear refusal. One guest boot serves every format: it moves back and forth
 * between the two. Installs libvirt and the compressors from Debian packages if they are missing,
 * starts {@code libvirtd} by hand and switches its {@code save_image_format} in {@code qemu.conf}
 * (put back afterwards). Runs with {@code -Dcryo.libvirt=true}, which {@code scripts/test} (and so
 * CI) passes: it changes the host (packages, a daemon, its configuration).
 */
@Timeout(2400)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@EnabledIfSystemProperty(named = "cryo.libvirt", matches = "true")
@LocalServer("shares an image folder with a local libvirt")
class LibvirtInteropTest {
  static final String NAME = "interop";
  /** The guest's network card, the same under both (libvirt checks a restore's MAC). */
  static final String MAC = "52:54:00:c7:0a:01";
  /** libvirt's {@code save_image_format} names and their codes in the image header. */
  static final Map<String, Integer> FORMAT_CODES = Map.of("raw", 0, "gzip", 1, "bzip2", 2,
      "xz", 3, "lzop", 4, "zstd", 5);

  @TempDir static Path temp;
  /** Readable by libvirt's QEMU user: not under /root or the JUnit temp folder. */
  static Path shared;
  static LibvirtHost libvirt;
  static CryoTarget cryo;
  static Images images;
  static String uuid = UUID.randomUUID().toString();
  /** The guest's last heartbeat, its boot id and memory checksum. */
  static GuestProbe.Beat beat;
  /** The guest's serial socket while it runs under libvirt. */
  static Path libvirtSerial;
  static int serials;
  /** libvirt's save_image_format as configured now. */
  static String virshFormat = "raw";
  /** {@code virsh dumpxml --inactive} of the guest: its devices where libvirt placed them. */
  static String libvirtXml;

  @BeforeAll
  static void setUp() throws Exception {
    libvirt = LibvirtHost.open(true);
    // libvirt runs these programs for its compressed images; Cryo needs none of them.
    for (String[] tool : List.of(new String[] {"gzip", "gzip"}, new String[] {"bzip2", "bzip2"},
        new String[] {"xz", "xz-utils"}, new String[] {"zstd", "zstd"})) {
      assertThat(LibvirtHost.ensureTool(tool[0], tool[1])).as("%s installed", tool[0]).isTrue();
    }
    shared = Files.createDirectories(Path.of("/var/tmp/cryo-interop-" + ProcessHandle.current()
        .pid()));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    for (String f : List.of("vmlinuz", "initramfs.img")) {
      Files.copy(TestGuest.dir().resolve(f), shared.resolve(f));
    }
    Path disk = TestGuest.createQcow2(shared.resolve("interop.qcow2"), "16M");
    Files.setPosixFilePermissions(disk, PosixFilePermissions.fromString("rw-rw-rw-"));
    cryo = CryoTarget.start(temp, List.of("--image-root", shared.toString()));
    images = cryo.client().images();
  }

  @AfterAll
  static void tearDown() throws Exception {
    try {
      if (libvirt != null) {
        libvirt.virshQuiet("destroy", NAME);
        libvirt.virshQuiet("undefine", NAME);
      }
      if (cryo != null) {
        LifecycleCleanup.destroyAndUndefine(cryo.client().domains(), NAME);
        cryo.close();
      }
    } finally {
      try {
        if (libvirt != null) {
          libvirt.close();
        }
      } finally {
        if (shared != null) {
          try (var files = Files.walk(shared)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
          }
        }
      }
    }
  }

  static String xml(Path serialSocket) {
    return """
    <domain type='qemu'>
      <name>%s</name>
      <uuid>%s</uuid>
      <memory unit='MiB'>128</memory>
      <vcpu>1</vcpu>
      <os>
        <type arch='x86_64' machine='pc'>hvm</type>
        <kernel>%s</kernel>
        <initrd>%s</initrd>
        <cmdline>console=ttyS0 quiet no_timer_check cryo.fill=8</cmdline>
      </os>
      <features><acpi/></features>
      <devices>
        <disk type='file' device='disk'>
          <driver name='qemu' type='qcow2'/>
          <source file='%s'/>
          <target dev='vda' bus='virtio'/>
        </disk>
        <interface type='user'><mac address='%s'/><model type='virtio'/></interface>
        <serial type='unix'><source mode='bind' path='%s'/><target port='0'/></serial>
        <controller type='usb' model='none'/>
        <memballoon model='none'/>
      </devices>
    </domain>
    """
        .formatted(NAME, uuid, shared.resolve("vmlinuz"), shared.resolve("initramfs.img"),
            shared.resolve("interop.qcow2"), MAC, serialSocket);
  }

  /**
   * What a libvirt user gives Cryo for libvirt's image: {@code virsh dumpxml}, with the devices
   * at the PCI addresses libvirt chose, and the Unix-socket serial, which Cryo does not model,
   * replaced by a pty (dxml).
   */
  static String cryoXml() {
    return libvirtXml
        .replaceAll("(?s)<serial type='unix'>.*?</serial>",
            "<serial type='pty'><target port='0'/></serial>")
        .replaceAll("(?s)<console type='unix'>.*?</console>",
            "<console type='pty'><target type='serial' port='0'/></console>");
  }

  @Test
  @Order(1)
  void virshSave_restoresThroughCryo() throws Exception {
    Path sock = nextSerial();
    Path xml = shared.resolve("interop.xml");
    Files.writeString(xml, xml(sock));
    libvirt.virsh("define", xml.toString());
    libvirtXml = libvirt.virsh("dumpxml", "--inactive", NAME);
    assertThat(libvirtXml).as("libvirt placed the card and the disk")
        .contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>")
        .contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>");
    libvirt.virsh("start", NAME);
    try (SerialSocket serial = new SerialSocket(sock)) {
      serial.await(GuestProbe.FILLED, 300);
      Matcher beat1 = serial.await(GuestProbe.COUNTER, 60);
      serial.send("checksum");
      Matcher sum = serial.await(GuestProbe.CHECKSUM, 60);
      beat = new GuestProbe.Beat(Long.parseLong(beat1.group(1)), beat1.group(2), sum.group(1));
    }
    libvirtSerial = sock;
    virshSaveThenCryoRestore("raw");
  }

  @Test
  @Order(2)
  void cryoSave_restoresThroughVirsh() throws Exception {
    cryoSaveThenVirshRestore(ImageCompression.RAW);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"gzip", "bzip2", "xz", "zstd"})
  @Order(3)
  void compressedImage_movesBothWays(String format) throws Exception {
    ImageCompression c = ImageCompression.valueOf(format.toUpperCase(Locale.ROOT));
    if (!virshSaveThenCryoRestore(format)) {
      libvirtLacksFormat(c);
      return;
    }
    cryoSaveThenVirshRestore(c);
  }

  /**
   * This libvirt has no {@code save_image_format} {@code c} (zstd before libvirt 9.1): what Cryo
   * documents holds. Cryo's image in that format says which libvirt releases restore it, this
   * libvirt refuses it naming the format, and Cryo restores it; the guest carries on through all of
   * it and ends under libvirt again, in raw.
   */
  static void libvirtLacksFormat(ImageCompression c) throws Exception {
    String format = c.name().toLowerCase(Locale.ROOT);
    assertThat(virshSaveThenCryoRestore("raw")).as("raw, which every libvirt has").isTrue();
    Path image = shared.resolve("cryo-" + format + ".save");
    beat = GuestProbe.latest(cryo.client().domains(), NAME, beat.checksum());
    images.saveToServer(NAME, image.toString(), SaveOptions.defaults().compression(c));
    assertThat(images.info(image.toString()).libvirtRestorableBy())
        .as("what Cryo says of %s images", format)
        .contains("after 9.0");
    Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
    Path dxml = shared.resolve("interop-refused.xml");
    Files.writeString(dxml, xml(nextSerial()));
    assertThatThrownBy(() -> libvirt.virsh("restore", image.toString(), "--xml", dxml.toString()))
        .as("libvirt %s restoring a %s image", libvirt.daemonVersion(), format)
        .hasMessageContaining(format);
    assertThat(images.restoreFromServer(image.toString(), RestoreOptions.defaults()).verified())
        .isTrue();
    beat = GuestProbe.assertCarriesOn(cryo.client().domains(), NAME, beat);
    cryoSaveThenVirshRestore(ImageCompression.RAW);
  }

  @Test
  @Order(4)
  void virshLzopImage_refusedByCryo() throws Exception {
    assumeTrue(LibvirtHost.ensureTool("lzop", "lzop"),
        "lzop is neither installed nor installable with apt-get: libvirt cannot write lzop");
    Path image = virshSave("lzop");
    assertThatThrownBy(() -> images.restoreFromServer(image.toString(),
        RestoreOptions.defaults().replacementXml(cryoXml())))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isIn(CryoException.ErrorCode.INVALID_ARGUMENT,
              CryoException.ErrorCode.FAILED_PRECONDITION);
          assertThat(e.getMessage()).containsIgnoringCase("lzop");
        });
    assertThat(cryo.client().domains().get(NAME).state()).isNotEqualTo(DomainState.RUNNING);
    cryo.assertNoGuestRunning();
    // The image itself is good: libvirt restores it and the guest carries on.
    virshRestore(image);
  }

  // ---- one move each way ---------------------------------------------------------------------

  /**
   * The guest runs under libvirt: {@code virsh save} in {@code format}, Cryo restores it. False
   * when this libvirt has no such format: then the guest still runs under libvirt.
   */
  static boolean virshSaveThenCryoRestore(String format) throws Exception {
    Path image = virshSave(format);
    if (image == null) {
      return false;
    }
    Restored r = images.restoreFromServer(image.toString(),
        RestoreOptions.defaults().replacementXml(cryoXml()));
    assertThat(r.verified()).isFalse();
    assertThat(r.warnings()).anyMatch(w -> w.contains("no SHA-256"));
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    beat = GuestProbe.assertCarriesOn(cryo.client().domains(), NAME, beat);
    try (Console c = cryo.client().domains().console(NAME)) {
      c.skipReceived();
      c.sendLine("nics");
      assertThat(c.awaitLine(NetworkTest.NICS, GuestProbe.LINE).group(1))
          .as("the card libvirt gave the guest, up, at the address libvirt chose")
          .contains("," + MAC + ",1,0000:00:02.0");
    }
    return true;
  }

  /** The guest runs under Cryo: Cryo saves with {@code c}, {@code virsh restore} runs it. */
  static void cryoSaveThenVirshRestore(ImageCompression c) throws Exception {
    String format = c.name().toLowerCase(Locale.ROOT);
    Path image = shared.resolve("cryo-" + format + ".save");
    beat = GuestProbe.latest(cryo.client().domains(), NAME, beat.checksum());
    images.saveToServer(NAME, image.toString(), SaveOptions.defaults().compression(c));
    assertThat(formatCode(image)).as("header of Cryo's %s image", format)
        .isEqualTo(FORMAT_CODES.get(format));
    // Cryo's image ends with its digest trailer (announced in the header's last unused word),
    // which libvirt's decompressor and QEMU must pass over.
    assertThat(new String(TestGuest.readRaw(image, 88, 4), StandardCharsets.US_ASCII))
        .as("digest trailer announced").isEqualTo("CrT1");
    Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
    virshRestore(image);
  }

  /**
   * {@code virsh save} of the guest running under libvirt, in libvirt's {@code format}; null when
   * this libvirt has no such format (asserted: it says so, and the guest runs on under it).
   */
  static Path virshSave(String format) throws Exception {
    if (!format.equals(virshFormat)) {
      libvirt.configure(Map.of("save_image_format", "\"" + format + "\""));
      virshFormat = format;
    }
    Path image = shared.resolve("virsh-" + format + ".save");
    try (SerialSocket serial = new SerialSocket(libvirtSerial)) {
      Matcher last = serial.await(GuestProbe.COUNTER, 60);
      assertThat(last.group(2)).as("same boot under libvirt").isEqualTo(beat.boot());
      try {
        libvirt.virsh("save", NAME, image.toString());
      } catch (AssertionError e) {
        // The guest keeps running under libvirt; the next format carries on from there.
        if (LibvirtHost.unknownSaveFormat(e)) {
          assertThat(e.getMessage()).as("libvirt's refusal").contains(format);
          Matcher next = serial.await(GuestProbe.COUNTER, 60);
          assertThat(Long.parseLong(next.group(1)))
              .as("still running under libvirt")
              .isGreaterThan(Long.parseLong(last.group(1)));
          return null;
        }
        throw e;
      }
      beat = new GuestProbe.Beat(Long.parseLong(last.group(1)), beat.boot(), beat.checksum());
    }
    assertThat(formatCode(image)).as("header of libvirt's %s image", format)
        .isEqualTo(FORMAT_CODES.get(format));
    return image;
  }

  /** {@code virsh restore} of an image of the guest; asserts that it carries on under libvirt. */
  static void virshRestore(Path image) throws Exception {
    Path sock = nextSerial();
    Path dxml = shared.resolve("interop-" + serials + ".xml");
    Files.writeString(dxml, xml(sock));
    // Started paused so the serial socket is connected before the guest prints again.
    libvirt.virsh("restore", image.toString(), "--xml", dxml.toString(), "--paused");
    try (SerialSocket serial = new SerialSocket(sock)) {
      libvirt.virsh("resume", NAME);
      Matcher next = serial.await(GuestProbe.COUNTER, 120);
      assertThat(next.group(2)).as("same boot under libvirt").isEqualTo(beat.boot());
      assertThat(Long.parseLong(next.group(1))).as("heartbeat continues from %d", beat.counter())
          .isBetween(beat.counter() + 1, beat.counter() + 3);
      serial.send("checksum");
      assertThat(serial.await(GuestProbe.CHECKSUM, 60).group(1)).as("guest memory checksum")
          .isEqualTo(beat.checksum());
    }
    libvirtSerial = sock;
  }

  static Path nextSerial() {
    return shared.resolve("serial-" + ++serials + ".sock");
  }

  /** The {@code format} word of a save image header (offset 28, little-endian). */
  static int formatCode(Path image) throws Exception {
    return ByteBuffer.wrap(TestGuest.readRaw(image, 28, 4)).order(ByteOrder.LITTLE_ENDIAN)
        .getInt();
  }
}
