package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotRequest;
import dev.cryo.client.Snapshots;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Disks on the machines' own controllers, as a user sees them: a SATA cdrom on q35 holding an ISO
 * the guest reads, its disc changed at run time ({@code ChangeMedia}, libvirt's {@code virsh
 * change-media}) and still the new one after a save and restore, then ejected; on pc an IDE
 * disk and a virtio-scsi disk the guest writes into their host images; and snapshots, revert and
 * a backup of a q35 guest with a SATA disk and a SATA cdrom, which they leave out.
 */
@Timeout(900)
@LocalServer("makes ISOs in the server's image folder and reads the guest's disk images")
class CdromTest {
  static final Pattern BLK = Pattern.compile("^BLK( .*)?$");
  static final Pattern ISOREAD = Pattern.compile("^(ISOREAD \\S+ \\S+ (\\S*)|ERR .*)$");

  @TempDir static Path temp;
  static CryoTarget server;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    server = CryoTarget.start(Files.createDirectories(temp.resolve("server")));
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  @Test
  void q35_sataCdrom_readsItsDisc_changesMedia_keepsItAcrossSaveRestore() throws Exception {
    String name = "cdrom-q35";
    Domains domains = server.client().domains();
    String one = "disc-one-" + UUID.randomUUID().toString().substring(0, 8);
    String two = "disc-two-" + UUID.randomUUID().toString().substring(0, 8);
    Path isoOne = iso(server.imagesDir().resolve("one.iso"), one);
    Path isoTwo = iso(server.imagesDir().resolve("two.iso"), two);
    String cdrom = """
            <disk type='file' device='cdrom'>
              <driver name='qemu' type='raw'/>
              <source file='%s'/>
              <target dev='sda' bus='sata'/>
            </disk>
        """.formatted(isoOne);
    String xml = TestGuest.xml(name, 128, 8, null, null, cdrom)
        .replace("machine='pc'", "machine='q35'");
    try {
      domains.define(xml);
      String stored = domains.xml(name);
      assertThat(stored)
          .as("libvirt's defaults for a SATA cdrom: read-only, port 0 of the ICH9's AHCI")
          .containsPattern("(?s)<target dev=\"sda\" bus=\"sata\"/>\\s*<readonly/>\\s*"
              + "<address type=\"drive\" controller=\"0\" bus=\"0\" target=\"0\" unit=\"0\"/>")
          .contains("<controller type=\"sata\" index=\"0\">");
      domains.define(stored);
      assertThat(domains.xml(name)).as("defining the stored XML again").isEqualTo(stored);

      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      assertThat(blk(domains, name)).as("the cdrom holds the ISO, read-only")
          .containsEntry("sr0", Files.size(isoOne) + ",1");
      assertThat(isoread(domains, name)).isEqualTo(one);

      domains.changeMedia(name, "sda", isoTwo.toString());
      assertThat(domains.xml(name)).contains("<source file=\"" + isoTwo + "\"/>");
      assertThat(isoread(domains, name)).as("the guest reads the new disc").isEqualTo(two);
      assertThat(blk(domains, name)).containsEntry("sr0", Files.size(isoTwo) + ",1");

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = server.imagesDir().resolve("cdrom-q35.save").toString();
      server.client().images().saveToServer(name, image, SaveOptions.defaults());
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      Restored r = server.client().images().restoreFromServer(image, RestoreOptions.defaults());
      assertThat(r.verified()).isTrue();
      GuestProbe.assertCarriesOn(domains, name, beat);
      assertThat(isoread(domains, name)).as("after restore, the changed disc").isEqualTo(two);

      Path missing = server.imagesDir().resolve("missing.iso");
      assertThatThrownBy(() -> domains.changeMedia(name, "sda", missing.toString()))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
            // the server shows its own folders as <server state>
            assertThat(e.getMessage()).contains("disk sda").contains("/images/missing.iso")
                .contains("does not exist");
          });
      assertThatThrownBy(() -> domains.changeMedia(name, "vdz", isoOne.toString()))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.INVALID_ARGUMENT);
            assertThat(e.getMessage()).contains("no disk 'vdz'");
          });
      assertThat(isoread(domains, name)).as("a refused change leaves the disc").isEqualTo(two);

      domains.changeMedia(name, "sda", "");
      assertThat(domains.xml(name)).doesNotContain("two.iso");
      assertThat(isoread(domains, name)).as("ejected").startsWith("ERR cannot mount sr0");
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void pc_ideAndVirtioScsiDisks_guestWritesReachTheirImages() throws Exception {
    String name = "cdrom-pc";
    Domains domains = server.client().domains();
    Path ide = raw(server.imagesDir().resolve("ide.raw"), 8);
    Path scsi = raw(server.imagesDir().resolve("scsi.raw"), 12);
    String devices = """
            <disk type='file' device='disk'>
              <driver name='qemu' type='raw'/>
              <source file='%s'/>
              <target dev='hda' bus='ide'/>
            </disk>
            <disk type='file' device='cdrom'>
              <target dev='hdc' bus='ide'/>
            </disk>
            <disk type='file' device='disk'>
              <driver name='qemu' type='raw'/>
              <source file='%s'/>
              <target dev='sda' bus='scsi'/>
            </disk>
            <controller type='scsi' index='0' model='virtio-scsi'/>
        """.formatted(ide, scsi);
    try {
      domains.define(TestGuest.xml(name, 128, 8, null, null, devices));
      assertThat(domains.xml(name))
          .as("libvirt's drive addresses: hda primary master, hdc secondary master, sda LUN 0")
          .containsPattern("(?s)<target dev=\"hda\" bus=\"ide\"/>\\s*<address type=\"drive\" "
              + "controller=\"0\" bus=\"0\" target=\"0\" unit=\"0\"/>")
          .containsPattern("(?s)<target dev=\"hdc\" bus=\"ide\"/>\\s*<readonly/>\\s*<address "
              + "type=\"drive\" controller=\"0\" bus=\"1\" target=\"0\" unit=\"0\"/>")
          .containsPattern("(?s)<target dev=\"sda\" bus=\"scsi\"/>\\s*<address type=\"drive\" "
              + "controller=\"0\" bus=\"0\" target=\"0\" unit=\"0\"/>")
          .containsPattern("(?s)<controller type=\"ide\" index=\"0\">\\s*<address type=\"pci\" "
              + "domain=\"0x0000\" bus=\"0x00\" slot=\"0x01\" function=\"0x1\"/>");
      domains.start(name);
      GuestProbe.awaitBooted(domains, name);
      Map<String, String> blk = blk(domains, name);
      String ideDev = device(blk, 8L << 20);
      String scsiDev = device(blk, 12L << 20);
      assertThat(blk).as("the empty IDE cdrom").containsEntry("sr0", "0,1");
      write(domains, name, ideDev, "ide-was-here");
      write(domains, name, scsiDev, "scsi-was-here");
      assertThat(new String(TestGuest.readRaw(ide, 4096, 12), StandardCharsets.US_ASCII))
          .isEqualTo("ide-was-here");
      assertThat(new String(TestGuest.readRaw(scsi, 4096, 13), StandardCharsets.US_ASCII))
          .isEqualTo("scsi-was-here");
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void q35_sataDiskAndCdrom_snapshotRevertAndBackupLeaveTheCdromOut() throws Exception {
    String name = "cdrom-snap";
    Domains domains = server.client().domains();
    Path isoOne = iso(server.imagesDir().resolve("snap.iso"), "snap-disc");
    Path disk = TestGuest.createQcow2(server.imagesDir().resolve("sata.qcow2"), "16M");
    String devices = """
            <disk type='file' device='cdrom'>
              <source file='%s'/>
              <target dev='sda' bus='sata'/>
            </disk>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='%s'/>
              <target dev='sdb' bus='sata'/>
            </disk>
        """.formatted(isoOne, disk);
    String xml = TestGuest.xml(name, 128, 8, null, null, devices)
        .replace("machine='pc'", "machine='q35'");
    try {
      domains.define(xml);
      domains.start(name);
      GuestProbe.awaitBooted(domains, name);
      String dev = device(blk(domains, name), 16L << 20);
      write(domains, name, dev, "before-snap");
      assertThatThrownBy(() -> domains.changeMedia(name, "sdb", isoOne.toString()))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.INVALID_ARGUMENT);
            assertThat(e.getMessage()).contains("disk sdb").contains("is not a cdrom");
          });
      assertThatThrownBy(() -> domains.changeMedia(name, "sda", "/etc/passwd"))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.PERMISSION_DENIED);
            assertThat(e.reason()).isEqualTo(CryoException.Reason.PATH_NOT_ALLOWED);
          });

      Snapshot s1 = server.client().snapshots().create(name, SnapshotRequest.builder()
          .name("s1").build());
      assertThat(s1.disks()).extracting(d -> d.name() + "/" + d.location())
          .as("the cdrom is left out, as libvirt does").containsExactly("sda/NO", "sdb/INTERNAL");
      write(domains, name, dev, "after-snap1");
      server.client().snapshots().revert(name, "s1", Snapshots.RevertTo.RUNNING);
      assertThat(read(domains, name, dev, 11)).as("the SATA disk as it was at s1")
          .isEqualTo("before-snap");
      assertThat(isoread(domains, name)).as("the disc after revert").isEqualTo("snap-disc");

      write(domains, name, dev, "post-revert");
      Path local = temp.resolve("sdb.raw");
      // every eligible disk: only sdb, or the client would get a disk it has no file for
      BackupJob full = server.client().backups().streamToRawFiles(name, BackupOptions.full(),
          Map.of("sdb", local));
      assertThat(full.state()).isEqualTo(BackupJob.State.COMPLETED);
      assertThat(new String(TestGuest.readRaw(local, 4096, 11), StandardCharsets.US_ASCII))
          .as("the backup holds the guest's last write").isEqualTo("post-revert");
      assertThatThrownBy(() -> server.client().backups().streamToRawFiles(name,
          new BackupOptions(null, null, List.of("sda")), Map.of("sda", temp.resolve("sda.raw"))))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
            assertThat(e.getMessage()).contains("'sda' is a cdrom");
          });
      Snapshot e1 = server.client().snapshots().create(name, SnapshotRequest.builder()
          .name("e1").diskOnly(true).build());
      assertThat(e1.disks()).extracting(d -> d.name() + "/" + d.location())
          .containsExactly("sda/NO", "sdb/EXTERNAL");
      String overlay = e1.disks().get(1).file();
      assertThat(domains.xml(name)).as("the SATA disk now writes into its overlay")
          .contains("<source file=\"" + overlay + "\"/>");
      write(domains, name, dev, "in-overlay1");
      assertThat(read(domains, name, dev, 11)).isEqualTo("in-overlay1");
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  /** An ISO 9660 image holding {@code hello.txt} with {@code text}, made by xorriso. */
  static Path iso(Path iso, String text) throws IOException, InterruptedException {
    Path dir = Files.createDirectories(temp.resolve(iso.getFileName() + ".d"));
    Files.writeString(dir.resolve("hello.txt"), text + "\n");
    List<String> argv = List.of("xorriso", "-as", "mkisofs", "-quiet", "-o", iso.toString(),
        dir.toString());
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("xorriso is missing; install it (scripts/test does: apt_install "
          + "xorriso)", e);
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("xorriso failed: " + out);
    }
    return iso;
  }

  private static Path raw(Path path, int mib) throws IOException {
    try (var f = new java.io.RandomAccessFile(path.toFile(), "rw")) {
      f.setLength((long) mib << 20);
    }
    return path;
  }

  /** The guest's block devices: name to {@code bytes,ro}. */
  private static Map<String, String> blk(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      fresh(c);
      c.sendLine("blk");
      String line = c.awaitLine(BLK, GuestProbe.LINE).group(0);
      return Arrays.stream(line.substring("BLK".length()).trim().split(" "))
          .map(f -> f.split(",", 2))
          .collect(Collectors.toMap(f -> f[0], f -> f[1]));
    }
  }

  /** The block device of {@code bytes}, writable. */
  private static String device(Map<String, String> blk, long bytes) {
    List<String> found = blk.entrySet().stream().filter(e -> e.getValue().equals(bytes + ",0"))
        .map(Map.Entry::getKey).toList();
    assertThat(found).as("one writable disk of %d bytes in %s", bytes, blk).hasSize(1);
    return found.get(0);
  }

  /** The first line of hello.txt on the disc in sr0, or the guest's ERR line. */
  private static String isoread(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      fresh(c);
      c.sendLine("isoread sr0 hello.txt");
      var m = c.awaitLine(ISOREAD, GuestProbe.LINE);
      return m.group(2) != null ? m.group(2) : m.group(1);
    }
  }

  /**
   * Skips what the console replays: once the guest echoes a fresh token, the next answer is to
   * the next command, not an earlier one's.
   */
  private static void fresh(Console c) {
    c.skipReceived();
    String token = UUID.randomUUID().toString().substring(0, 8);
    c.sendLine("echo " + token);
    c.awaitLine(Pattern.compile("^ECHO " + token + "$"), GuestProbe.LINE);
  }

  private static String read(Domains domains, String name, String dev, int len) {
    try (Console c = domains.console(name)) {
      fresh(c);
      c.sendLine("read " + dev + " 4096 " + len);
      return c.awaitLine(Pattern.compile("^READ " + dev + " 4096 (\\S+)$"), GuestProbe.LINE)
          .group(1);
    }
  }

  private static void write(Domains domains, String name, String dev, String pattern) {
    try (Console c = domains.console(name)) {
      fresh(c);
      c.sendLine("write " + dev + " 4096 " + pattern);
      Pattern answer = Pattern.compile("^(WROTE " + dev + " .*|ERR .*)$");
      assertThat(c.awaitLine(answer, GuestProbe.LINE).group(1))
          .isEqualTo("WROTE " + dev + " 4096 " + pattern.length());
    }
  }
}
