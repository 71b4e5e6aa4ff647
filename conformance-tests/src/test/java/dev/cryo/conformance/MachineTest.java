package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Machine types and stable PCI addresses, as a user sees them: define writes libvirt's layout
 * into the stored XML (on q35 a PCIe root port per device), the guest finds each device at the
 * address that XML names, defining the stored XML again changes nothing, and after a save and
 * restore the guest carries on with the same devices where they were.
 */
@Timeout(900)
@LocalServer("reaches the guest's forwarded port on this host")
class MachineTest {
  static final Pattern PCI = Pattern.compile("^PCI( .*)?$");
  /** QEMU's PCIe root port and virtio's vendor id. */
  static final String ROOT_PORT = "0x1b36:0x000c";
  static final String VIRTIO = "0x1af4:";

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
  void q35_devicesSitBehindRootPortsTheStoredXmlNamesAcrossSaveRestore() throws Exception {
    String name = "q35-vm";
    Domains domains = server.client().domains();
    int port = NetworkTest.freePort();
    Path disk = TestGuest.createQcow2(server.imagesDir().resolve("q35-vm.qcow2"), "16M");
    String xml = TestGuest.xml(name, 128, 16, disk, "qcow2",
            NetworkTest.forwardedNic("virtio", port, ""))
        .replace("machine='pc'", "machine='q35'");
    try {
      domains.define(xml);
      String stored = domains.xml(name);
      assertThat(stored)
          .as("libvirt's q35 layout: network card, then disk, each behind its own root port, "
              + "and one port left free")
          .contains("<controller type=\"pci\" index=\"0\" model=\"pcie-root\"/>")
          .contains("<controller type=\"pci\" index=\"3\" model=\"pcie-root-port\">")
          .doesNotContain("index=\"4\"")
          .containsPattern("(?s)<interface type=\"user\">.*<address type=\"pci\" domain=\"0x0000\""
              + " bus=\"0x01\" slot=\"0x00\" function=\"0x0\"/>\\s*</interface>")
          .containsPattern("(?s)<target dev=\"vda\" bus=\"virtio\"/>\\s*<address type=\"pci\" "
              + "domain=\"0x0000\" bus=\"0x02\" slot=\"0x00\" function=\"0x0\"/>");
      domains.define(stored);
      assertThat(domains.xml(name)).as("defining the stored XML again").isEqualTo(stored);

      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      NetworkTest.awaitAddresses(domains, name, 1);
      Map<String, String> pci = pci(domains, name);
      assertThat(pci)
          .as("PCI address -> vendor:device,driver as the guest sees it")
          .containsEntry("0000:00:01.0", ROOT_PORT + ",pcieport")
          .containsEntry("0000:00:01.1", ROOT_PORT + ",pcieport")
          .containsEntry("0000:00:01.2", ROOT_PORT + ",pcieport");
      assertThat(pci.get("0000:01:00.0")).as("the network card").startsWith(VIRTIO)
          .endsWith(",virtio-pci");
      assertThat(pci.get("0000:02:00.0")).as("the disk").startsWith(VIRTIO)
          .endsWith(",virtio-pci");
      assertThat(nicPci(domains, name)).isEqualTo("0000:01:00.0");
      assertThat(NetworkTest.service(port).group(1)).isEqualTo(beat.boot());

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = server.imagesDir().resolve("q35-vm.save").toString();
      server.client().images().saveToServer(name, image, SaveOptions.defaults());
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      Restored r = server.client().images().restoreFromServer(image, RestoreOptions.defaults());
      assertThat(r.verified()).isTrue();
      Matcher after = NetworkTest.service(port);
      assertThat(after.group(1)).as("same boot").isEqualTo(beat.boot());
      GuestProbe.assertCarriesOn(domains, name, beat);
      assertThat(pci(domains, name)).as("the same devices, where they were").isEqualTo(pci);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void pc_videoRngAndTablet_whereLibvirtPutsThemAcrossSaveRestore() throws Exception {
    String name = "pc-devices";
    Domains domains = server.client().domains();
    String xml = TestGuest.xml(name, 128, 16, null, null,
            "<input type='tablet' bus='usb'/><video><model type='vga'/></video>"
                + "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
        .replace("<controller type='usb' model='none'/>", "");
    try {
      domains.define(xml);
      assertThat(domains.xml(name))
          .contains("<model type=\"vga\" vram=\"16384\" heads=\"1\" primary=\"yes\"/>")
          .contains("<address type=\"usb\" bus=\"0\" port=\"1\"/>");
      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      Map<String, String> pci = pci(domains, name);
      assertThat(pci)
          .as("libvirt's i440fx layout: USB at 01.2, the VGA card at 02.0, the rng next")
          .containsEntry("0000:00:03.0", "0x1af4:0x1005,virtio-pci")
          .containsKey("0000:00:01.2");
      assertThat(pci.get("0000:00:02.0")).as("QEMU's standard VGA").startsWith("0x1234:0x1111,");

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = server.imagesDir().resolve("pc-devices.save").toString();
      server.client().images().saveToServer(name, image, SaveOptions.defaults());
      assertThat(server.client().images().restoreFromServer(image, RestoreOptions.defaults())
          .verified()).isTrue();
      GuestProbe.assertCarriesOn(domains, name, beat);
      assertThat(pci(domains, name)).as("the same devices, where they were").isEqualTo(pci);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  /** The guest's PCI functions: address to {@code vendor:device,driver}. */
  private static Map<String, String> pci(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine("pci");
      String line = c.awaitLine(PCI, GuestProbe.LINE).group(0);
      return Arrays.stream(line.substring("PCI".length()).trim().split(" "))
          .map(f -> f.split(",", 2))
          .collect(Collectors.toMap(f -> f[0], f -> f[1]));
    }
  }

  /** The PCI address of the guest's only network card. */
  private static String nicPci(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine("nics");
      String card = c.awaitLine(NetworkTest.NICS, GuestProbe.LINE).group(1).trim();
      return card.split(",")[3];
    }
  }
}
