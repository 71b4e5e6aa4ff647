package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Disks on IDE, SATA and SCSI: the drive addresses and controllers define writes. The expected
 * XML is what libvirt 9.0 wrote into {@code virsh dumpxml} after {@code virsh define} of the
 * same XML on Debian 12 (QEMU 7.2).
 */
class DriveAddressesTest {
  private static final String RAW = "<driver name='qemu' type='raw'/><source file='/img/d.raw'/>";

  private static String xml(String machine, String devices) {
    return "<domain type='qemu'><name>vm1</name><memory unit='MiB'>64</memory>"
        + "<os><type arch='x86_64' machine='" + machine + "'>hvm</type>"
        + "<kernel>/boot/vmlinuz</kernel></os><devices>" + devices + "</devices></domain>";
  }

  private static String disk(String device, String dev, String bus, String source) {
    return "<disk type='file' device='" + device + "'>" + source + "<target dev='" + dev
        + "' bus='" + bus + "'/></disk>";
  }

  private static String drive(int bus, int unit) {
    return "<address type=\"drive\" controller=\"0\" bus=\"" + bus + "\" target=\"0\" unit=\""
        + unit + "\"/>";
  }

  @Test
  void define_q35Sata_unitFollowsTheNameAndCdromIsReadOnly() {
    String stored = DomainXml.format(DomainXml.parseDefinition(xml("q35",
        disk("disk", "vda", "virtio", RAW)
            + disk("cdrom", "sda", "sata", RAW)
            + disk("disk", "sdb", "sata", RAW)
            + disk("cdrom", "sdc", "sata", "")
            + disk("disk", "sdf", "sata", RAW))).def());

    assertThat(stored)
        .containsPattern("(?s)dev=\"vda\" bus=\"virtio\"/>\\s*<address type=\"pci\" "
            + "domain=\"0x0000\" bus=\"0x02\" slot=\"0x00\" function=\"0x0\"/>")
        .containsPattern("(?s)dev=\"sda\" bus=\"sata\"/>\\s*<readonly/>\\s*" + drive(0, 0))
        .containsPattern("(?s)dev=\"sdb\" bus=\"sata\"/>\\s*" + drive(0, 1))
        .containsPattern("(?s)<driver name=\"qemu\" type=\"raw\"/>\\s*<target dev=\"sdc\" "
            + "bus=\"sata\"/>\\s*<readonly/>\\s*" + drive(0, 2))
        .containsPattern("(?s)dev=\"sdf\" bus=\"sata\"/>\\s*" + drive(0, 5))
        .containsPattern("(?s)<controller type=\"sata\" index=\"0\">\\s*<address type=\"pci\" "
            + "domain=\"0x0000\" bus=\"0x00\" slot=\"0x1f\" function=\"0x2\"/>")
        .as("libvirt's balloon behind the third root port: the SATA disks take no PCI slot")
        .containsPattern("(?s)<memballoon model=\"virtio\">\\s*<address type=\"pci\" "
            + "domain=\"0x0000\" bus=\"0x03\"");
    assertThat(DomainXml.format(DomainXml.parseDefinition(stored).def()))
        .as("defining the stored XML again").isEqualTo(stored);
  }

  @Test
  void define_pcIdeAndScsi_busAndUnitFromTheNameAndTheirControllers() {
    String stored = DomainXml.format(DomainXml.parseDefinition(xml("pc",
        disk("disk", "hda", "ide", RAW)
            + disk("cdrom", "hdc", "ide", RAW)
            + disk("cdrom", "hdb", "ide", "")
            + disk("disk", "sda", "scsi", RAW)
            + disk("cdrom", "sdb", "scsi", RAW)
            + "<controller type='scsi' model='virtio-scsi'/>")).def());

    assertThat(stored)
        .containsPattern("(?s)dev=\"hda\" bus=\"ide\"/>\\s*" + drive(0, 0))
        .containsPattern("(?s)dev=\"hdc\" bus=\"ide\"/>\\s*<readonly/>\\s*" + drive(1, 0))
        .containsPattern("(?s)dev=\"hdb\" bus=\"ide\"/>\\s*<readonly/>\\s*" + drive(0, 1))
        .containsPattern("(?s)dev=\"sda\" bus=\"scsi\"/>\\s*" + drive(0, 0))
        .containsPattern("(?s)dev=\"sdb\" bus=\"scsi\"/>\\s*<readonly/>\\s*" + drive(0, 1))
        .containsPattern("(?s)<controller type=\"scsi\" index=\"0\" model=\"virtio-scsi\">\\s*"
            + "<address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x02\" "
            + "function=\"0x0\"/>")
        .containsPattern("(?s)<controller type=\"ide\" index=\"0\">\\s*<address type=\"pci\" "
            + "domain=\"0x0000\" bus=\"0x00\" slot=\"0x01\" function=\"0x1\"/>")
        .containsPattern("(?s)<memballoon model=\"virtio\">\\s*<address type=\"pci\" "
            + "domain=\"0x0000\" bus=\"0x00\" slot=\"0x03\"");
    assertThat(DomainXml.format(DomainXml.parseDefinition(stored).def()))
        .as("defining the stored XML again").isEqualTo(stored);
  }

  @Test
  void parse_givenDriveAddress_keptWhereTheNameWouldPutItElsewhere() {
    DiskDef d = DomainXml.parse(xml("q35", "<disk type='file' device='cdrom'><target dev='sda' "
        + "bus='sata'/><address type='drive' controller='0' bus='0' target='0' unit='4'/>"
        + "</disk>")).def().disks().get(0);

    assertThat(d.getAddress().unit()).isEqualTo(4);
    assertThat(d.getSourceFile()).as("an empty tray").isNull();
    assertThat(d.isReadonly()).isTrue();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "pc|<disk type='file' device='disk'><source file='/d'/><target dev='hde' bus='ide'/></disk>"
          + "|disk hde: a disk on bus 'ide' is named hda to hdd",
      "q35|<disk type='file' device='disk'><source file='/d'/><target dev='sdg' bus='sata'/>"
          + "</disk>|disk sdg: a disk on bus 'sata' is named sda to sdf",
      "q35|<disk type='file' device='disk'><source file='/d'/><target dev='hda' bus='ide'/>"
          + "</disk>|disk hda: bus 'ide' needs the PIIX3 of machine 'pc'; on q35 use bus='sata'",
      "q35|<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><address type='pci' "
          + "slot='0x05'/></disk>|disk sda: address type 'pci' is not supported; a disk on bus "
          + "'sata' has <address type='drive'",
      "q35|<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><address type='drive' "
          + "unit='6'/></disk>|disk sda: address unit '6' is not a number from 0 to 5",
      "q35|<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk><disk "
          + "type='file' device='cdrom'><target dev='sdb' bus='sata'/><address type='drive' "
          + "unit='0'/></disk>|disk sdb: address drive 0:0:0:0 is also the address of disk sda",
      "pc|<disk type='file' device='disk'><source file='/d'/><target dev='vda'/><address "
          + "type='drive'/></disk>|disk vda: address type 'drive' is not supported; this "
          + "device sits on PCI",
      "pc|<controller type='scsi' model='lsilogic'/>|controller type='scsi' model 'lsilogic' "
          + "is not supported; use model='virtio-scsi'",
  })
  void parse_badDrive_namesTheDiskAndTheFix(String machine, String devices, String message) {
    assertThatThrownBy(() -> DomainXml.parseDefinition(xml(machine, devices)))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(message);
  }

  @Test
  void nameIndex_isLibvirtsBase26() {
    assertThat(DriveAddresses.nameIndex("sda", "sd")).isZero();
    assertThat(DriveAddresses.nameIndex("hdc", "hd")).isEqualTo(2);
    assertThat(DriveAddresses.nameIndex("sdz", "sd")).isEqualTo(25);
    assertThat(DriveAddresses.nameIndex("sdaa", "sd")).isEqualTo(26);
    assertThat(DriveAddresses.nameIndex("sda1", "sd")).isEqualTo(-1);
    assertThat(DriveAddresses.nameIndex("vda", "sd")).isEqualTo(-1);
  }
}
