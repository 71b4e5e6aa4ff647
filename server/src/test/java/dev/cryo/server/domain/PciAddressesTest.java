package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InvalidArgumentException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The addresses define assigns. The expected layouts are what libvirt 9.0 wrote into {@code virsh
 * dumpxml} after {@code virsh define} of the same XML on Debian 12 (QEMU 7.2).
 */
class PciAddressesTest {
  private static final String DEVICES = """
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='/img/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='/img/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
      <interface type='user'><model type='virtio'/></interface>
      <interface type='user'><model type='e1000e'/></interface>
      """;

  private static String xml(String machine, String devices) {
    return "<domain type='qemu'><name>vm1</name><memory unit='MiB'>64</memory>"
        + "<os><type arch='x86_64' machine='" + machine + "'>hvm</type>"
        + "<kernel>/boot/vmlinuz</kernel></os><devices>" + devices + "</devices></domain>";
  }

  private static DomainDef define(String xml) {
    return DomainXml.parseDefinition(xml).def();
  }

  private static String address(DeviceAddress a) {
    return a == null ? null : a.toString();
  }

  @Test
  void assign_i440fx_libvirtOrderAndSlots() {
    DevicesDef d = define(xml("pc", DEVICES)).getDevices();

    assertThat(d.getInterfaces()).extracting(n -> address(n.getAddress()))
        .containsExactly("00:02.0", "00:03.0");
    assertThat(d.getDisks()).extracting(n -> address(n.getAddress()))
        .containsExactly("00:04.0", "00:05.0");
    assertThat(address(d.getMemballoon().getAddress())).isEqualTo("00:06.0");
    assertThat(d.getControllers()).extracting(c -> c.getType() + "/" + c.getModel() + "/"
        + address(c.getAddress())).containsExactly("usb/piix3-uhci/00:01.2", "pci/pci-root/null");
  }

  @Test
  void assign_q35_rootPortPerDevicePlusOneFree() {
    DevicesDef d = define(xml("q35", DEVICES)).getDevices();

    assertThat(d.getInterfaces()).extracting(n -> address(n.getAddress()))
        .containsExactly("01:00.0", "02:00.0");
    assertThat(d.getDisks()).extracting(n -> address(n.getAddress()))
        .containsExactly("04:00.0", "05:00.0");
    assertThat(address(d.getMemballoon().getAddress())).isEqualTo("06:00.0");
    List<DevicesDef.Controller> ports = d.getControllers().stream()
        .filter(c -> "pcie-root-port".equals(c.getModel())).toList();
    assertThat(ports).extracting(DevicesDef.Controller::index)
        .containsExactly(1, 2, 3, 4, 5, 6, 7);
    assertThat(ports).extracting(c -> address(c.getAddress())).containsExactly("00:01.0",
        "00:01.1", "00:01.2", "00:01.3", "00:01.4", "00:01.5", "00:01.6");
    assertThat(ports.get(0).getAddress().multifunction()).isTrue();
    assertThat(ports.get(1).getAddress().multifunction()).isFalse();
    assertThat(ports).extracting(c -> c.target.chassis + "/" + c.target.port)
        .startsWith("1/0x8", "2/0x9");
    assertThat(d.getControllers()).extracting(c -> c.getType() + "/" + c.getModel() + "/"
        + address(c.getAddress())).startsWith("usb/qemu-xhci/03:00.0", "sata/null/00:1f.2",
        "pci/pcie-root/null");
  }

  @Test
  void assign_formattedDefinition_definesToTheSameXml() {
    for (String machine : List.of("pc", "q35")) {
      String once = DomainXml.format(define(xml(machine, DEVICES)));
      assertThat(DomainXml.format(define(once))).as(machine).isEqualTo(once);
      assertThat(DomainXml.parse(once).warnings()).as(machine).isEmpty();
    }
  }

  @Test
  void assign_deviceAddedToADefinition_othersKeepTheirAddresses() {
    for (String machine : List.of("pc", "q35")) {
      String once = DomainXml.format(define(xml(machine, DEVICES)));
      String added = once.replace("</devices>",
          "<interface type='user'><model type='virtio'/></interface></devices>");
      DevicesDef before = define(once).getDevices();
      DevicesDef after = define(added).getDevices();
      assertThat(after.getDisks()).extracting(x -> address(x.getAddress()))
          .isEqualTo(before.getDisks().stream().map(x -> address(x.getAddress())).toList());
      assertThat(after.getInterfaces().subList(0, 2)).extracting(x -> address(x.getAddress()))
          .isEqualTo(before.getInterfaces().stream().map(x -> address(x.getAddress())).toList());
      String third = address(after.getInterfaces().get(2).getAddress());
      assertThat(third).as(machine).isEqualTo(machine.equals("pc") ? "00:07.0" : "07:00.0");
    }
  }

  @Test
  void assign_q35ConventionalPciCard_goesBehindAPcieToPciBridge() {
    DevicesDef d = define(xml("q35", DEVICES.replace("'virtio'/></interface>",
        "'rtl8139'/></interface>"))).getDevices();

    assertThat(d.getInterfaces()).extracting(n -> address(n.getAddress()))
        .containsExactly("02:01.0", "03:00.0");
    assertThat(d.getControllers()).filteredOn(c -> "pci".equals(c.getType()))
        .extracting(c -> c.index() + "/" + c.getModel() + "/" + address(c.getAddress()))
        .containsExactly("0/pcie-root/null", "1/pcie-root-port/00:01.0",
            "2/pcie-to-pci-bridge/01:00.0", "3/pcie-root-port/00:01.1",
            "4/pcie-root-port/00:01.2", "5/pcie-root-port/00:01.3", "6/pcie-root-port/00:01.4",
            "7/pcie-root-port/00:01.5", "8/pcie-root-port/00:01.6");
    assertThat(d.getDisks()).extracting(n -> address(n.getAddress()))
        .containsExactly("05:00.0", "06:00.0");
  }

  @Test
  void parse_imageXmlWithoutAddresses_getsNone() {
    DomainDef def = DomainXml.parse(xml("pc", DEVICES)).def();
    assertThat(def.getDevices().getDisks()).allMatch(x -> x.getAddress() == null);
    assertThat(def.getDevices().getInterfaces()).allMatch(x -> x.getAddress() == null);
  }

  @Test
  void parse_decimalAddress_writtenInLibvirtHex() {
    DomainDef def = DomainXml.parse(xml("pc", "<interface type='user'>"
        + "<address type='pci' bus='0' slot='10' function='0'/></interface>")).def();
    assertThat(DomainXml.format(def)).contains("<address type=\"pci\" domain=\"0x0000\" "
        + "bus=\"0x00\" slot=\"0x0a\" function=\"0x0\"/>");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "pc|<address type='drive' controller='0' bus='0' unit='0'/>|address type 'drive'",
      "pc|<address type='pci' bus='0x00' slot='0x01' function='0x0'/>|PIIX3 chipset",
      "pc|<address type='pci' bus='0x00' slot='0x00' function='0x0'/>|host bridge",
      "q35|<address type='pci' bus='0x00' slot='0x1f' function='0x0'/>|ICH9 chipset",
      "pc|<address type='pci' bus='0x00' slot='0x20' function='0x0'/>|slot '0x20' is not",
      "pc|<address type='pci' bus='0x00' slot='0x03' function='0x8'/>|function '0x8' is not",
      "pc|<address type='pci' bus='0x03' slot='0x00' function='0x0'/>|which no <controller",
      "pc|<address type='pci' domain='0x0001' bus='0x00' slot='0x03'/>|domain '0x0001'",
  })
  void parse_badAddress_namesTheDeviceAndTheFix(String machine, String address, String message) {
    assertThatThrownBy(() -> DomainXml.parse(xml(machine, "<interface type='user'>" + address
        + "</interface>")))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("interface #1: address")
        .hasMessageContaining(message);
  }

  @Test
  void parse_twoDevicesAtOneAddress_isRefused() {
    String at = "<address type='pci' bus='0x00' slot='0x03' function='0x0'/>";
    assertThatThrownBy(() -> DomainXml.parse(xml("pc", "<disk type='file'>"
        + "<source file='/img/a'/><target dev='vda'/>" + at + "</disk>"
        + "<interface type='user'>" + at + "</interface>")))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("disk vda: address 00:03.0 is also the address of interface #1");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "pc|<controller type='pci' index='1' model='pcie-root-port'/>|on an i440fx machine",
      "q35|<controller type='pci' index='0' model='pci-root'/>|is 'pcie-root'",
      "q35|<controller type='pci' index='1' model='pci-bridge'/>|use 'pcie-root-port'",
      "q35|<controller type='pci' index='1' model='pcie-root-port'><address type='pci' bus='0x02'"
          + " slot='0x00'/></controller>|must be above its parent bus",
      "pc|<controller type='usb' model='ich9-ehci1'/>|use 'qemu-xhci', 'piix3-uhci' or 'none'",
      "pc|<controller type='usb'/><controller type='usb'/>|more than one USB controller",
  })
  void parse_badController_isRefused(String machine, String controllers, String message) {
    assertThatThrownBy(() -> DomainXml.parse(xml(machine, controllers)))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(message);
  }

  @Test
  void inherit_replacementWithoutAddresses_takesTheImagesAndMovedOnesAreListed() {
    DomainDef image = define(xml("q35", DEVICES));
    DomainDef bare = DomainXml.parse(xml("q35", DEVICES)).def();
    assertThat(PciAddresses.inherit(image, bare)).isEmpty();
    assertThat(bare.getDevices().getDisks()).extracting(x -> address(x.getAddress()))
        .containsExactly("04:00.0", "05:00.0");
    assertThat(bare.getDevices().getInterfaces()).extracting(x -> address(x.getAddress()))
        .containsExactly("01:00.0", "02:00.0");
    assertThat(bare.getDevices().getControllers()).extracting(DevicesDef.Controller::index)
        .contains(1, 2, 3, 4, 5, 6, 7);

    DomainDef moved = DomainXml.parse(xml("q35", DEVICES.replace("<target dev='vda' bus='virtio'/>",
        "<target dev='vda' bus='virtio'/><address type='pci' bus='0x07' slot='0x00'/>"))
        .replace("</devices>", "<controller type='pci' index='7' model='pcie-root-port'/>"
            + "</devices>")).def();
    assertThat(PciAddresses.inherit(image, moved)).containsExactly(
        "disk vda address 07:00.0 != 04:00.0");
  }

  /** What virt-install adds: libvirt put the card at 00:02.0 and the rng after the balloon. */
  @Test
  void assign_videoRngAndTablet_asLibvirtPlacesThem() {
    String more = "<input type='tablet' bus='usb'/><video><model type='vga'/></video>"
        + "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>";
    DevicesDef pc = define(xml("pc", DEVICES + more)).getDevices();
    assertThat(address(pc.getVideos().get(0).getAddress())).isEqualTo("00:02.0");
    assertThat(pc.getInterfaces()).extracting(n -> address(n.getAddress()))
        .containsExactly("00:03.0", "00:04.0");
    assertThat(address(pc.getMemballoon().getAddress())).isEqualTo("00:07.0");
    assertThat(address(pc.getRngs().get(0).getAddress())).isEqualTo("00:08.0");
    assertThat(pc.getInputs().get(0).address.port).isEqualTo("1");

    DevicesDef q35 = define(xml("q35", DEVICES + more)).getDevices();
    assertThat(address(q35.getVideos().get(0).getAddress())).isEqualTo("00:01.0");
    assertThat(address(q35.getMemballoon().getAddress())).isEqualTo("06:00.0");
    assertThat(address(q35.getRngs().get(0).getAddress())).isEqualTo("07:00.0");
    assertThat(q35.getControllers()).filteredOn(c -> "pcie-root-port".equals(c.getModel()))
        .extracting(c -> address(c.getAddress())).startsWith("00:02.0", "00:02.1");
  }

  @Test
  void format_videoDefaults_writtenAsLibvirtWritesThem() {
    String xml = DomainXml.format(define(xml("pc", "<video/>")));
    assertThat(xml).contains("<model type=\"vga\" vram=\"16384\" heads=\"1\" primary=\"yes\"/>");
  }
}
