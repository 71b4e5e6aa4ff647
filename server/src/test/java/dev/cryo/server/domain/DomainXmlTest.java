package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InvalidArgumentException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.w3c.dom.Element;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DomainXmlTest {
  private static final String MINIMAL = resource("minimal-direct-kernel.xml");

  // ---- fixtures ---------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"minimal-direct-kernel", "virsh-dumpxml-debian12", "memory-units",
      "metadata"})
  void format_fixture_matchesExpectedAndRoundTrips(String fixture) {
    DomainXml.Parsed parsed = DomainXml.parse(resource(fixture + ".xml"));
    String formatted = DomainXml.format(parsed.def());

    assertThat(formatted).isEqualTo(resource(fixture + ".expected.xml"));
    DomainXml.Parsed again = DomainXml.parse(formatted);
    assertThat(again.warnings()).isEmpty();
    assertThat(DomainXml.format(again.def())).isEqualTo(formatted);
  }

  @Test
  void parse_minimalDirectKernel_modelsEverything() {
    DomainXml.Parsed parsed = DomainXml.parse(MINIMAL);
    DomainDef def = parsed.def();

    assertThat(parsed.warnings()).isEmpty();
    assertThat(def.getType()).isEqualTo("qemu");
    assertThat(def.getName()).isEqualTo("tiny");
    assertThat(def.getUuid()).isEqualTo("4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    assertThat(def.memoryBytes()).isEqualTo(256L << 20);
    assertThat(def.currentMemoryBytes()).isEqualTo(256L << 20);
    assertThat(def.vcpus()).isEqualTo(1);
    assertThat(def.machine()).isEqualTo("pc-i440fx-7.2");
    assertThat(def.arch()).isEqualTo("x86_64");
    assertThat(def.getOs().getKernel()).isEqualTo("/var/lib/cryo/images/vmlinuz");
    assertThat(def.getOs().getInitrd()).isEqualTo("/var/lib/cryo/images/initrd.img");
    assertThat(def.getOs().getCmdline()).isEqualTo("console=ttyS0 root=/dev/vda rw");
    assertThat(def.getOnPoweroff()).isEqualTo("destroy");
    assertThat(def.getOnReboot()).isEqualTo("restart");
    assertThat(def.getOnCrash()).isEqualTo("destroy");
    assertThat(def.disks()).singleElement().satisfies(disk -> {
      assertThat(disk.getFormat()).isEqualTo(DiskDef.QCOW2);
      assertThat(disk.getSourceFile()).isEqualTo("/var/lib/cryo/images/tiny.qcow2");
      assertThat(disk.getTargetDev()).isEqualTo("vda");
      assertThat(disk.getTargetBus()).isEqualTo("virtio");
      assertThat(disk.isReadonly()).isFalse();
    });
    assertThat(def.hasSerialConsole()).isTrue();
    assertThat(def.getDevices().usbControllerModel()).isEqualTo("none");
    assertThat(def.getDevices().getMemballoon().getModel()).isEqualTo("none");
  }

  @Test
  void parse_virshDumpxml_acceptedWithIgnoredContentReported() {
    DomainXml.Parsed parsed = DomainXml.parse(resource("virsh-dumpxml-debian12.xml"));

    assertThat(parsed.warnings())
        .isEqualTo(resource("virsh-dumpxml-debian12.warnings.txt").lines().toList())
        .contains("ignored attribute /domain/@id (line 1)",
            "ignored attribute /domain/cpu/@check (line 26)",
            "ignored element /domain/devices/interface/alias (line 61)",
            "ignored attribute /domain/devices/disk/source/@index (line 45)");
    DomainDef def = parsed.def();
    assertThat(def.getDevices().getEmulator()).isEqualTo("/usr/bin/qemu-system-x86_64");
    assertThat(def.getDevices().usbControllerModel()).isEqualTo("piix3-uhci");
    assertThat(def.getOs().getBootDevices()).containsExactly("hd");
    assertThat(def.getMetadata()).singleElement()
        .extracting(Element::getLocalName).isEqualTo("libosinfo");
  }

  @Test
  void parse_memoryUnits_convertedToKiB() {
    DomainDef def = DomainXml.parse(resource("memory-units.xml")).def();

    assertThat(def.memoryKiB()).isEqualTo(1048576);
    // 1000 MB = 10^9 bytes = 976562.5 KiB, rounded up as libvirt does
    assertThat(def.currentMemoryKiB()).isEqualTo(976563);
    assertThat(def.vcpus()).isEqualTo(2);
    assertThat(def.getUuid()).isEqualTo("0f8b3c2e-9d6a-4b1c-8e7f-6a5b4c3d2e1f");
  }

  @ParameterizedTest
  @CsvSource({
      "b, 2048, 2", "bytes, 2048, 2", "byte, 1025, 2", "k, 3, 3", "KiB, 3, 3", "KB, 1024, 1000",
      "M, 2, 2048", "MiB, 2, 2048", "MB, 1, 977", "G, 1, 1048576", "GiB, 1, 1048576",
      "GB, 1, 976563", "T, 1, 1073741824", "TiB, 1, 1073741824", "TB, 1, 976562500",
      "mib, 1, 1024", "'', 5, 5"})
  void parse_memoryUnit_libvirtScale(String unit, long value, long expectedKiB) {
    String attribute = unit.isEmpty() ? "" : " unit='" + unit + "'";
    String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>",
        "<memory" + attribute + ">" + value + "</memory>");

    assertThat(DomainXml.parse(xml).def().memoryKiB()).isEqualTo(expectedKiB);
  }

  @Test
  void parse_metadata_keptVerbatimWithNamespaces() {
    DomainDef def = DomainXml.parse(resource("metadata.xml")).def();

    List<Element> metadata = def.getMetadata();
    assertThat(metadata).hasSize(2);
    assertThat(metadata.get(0).getNamespaceURI()).isEqualTo("http://app1.org/app1/");
    assertThat(metadata.get(0).getTextContent()).isEqualTo("fooish");
    assertThat(metadata.get(1).getNamespaceURI()).isEqualTo("http://app1.org/app2/");
    assertThat(metadata.get(1).getAttributeNS("http://app1.org/app2/", "level")).isEqualTo("3");
    assertThat(metadata.get(1).getElementsByTagNameNS("http://app1.org/app2/", "item").item(0)
        .getTextContent()).isEqualTo("first & only");
  }

  @Test
  void parse_currentMemoryAboveMemory_clampedLikeLibvirt() {
    String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>",
        "<memory unit='MiB'>256</memory><currentMemory unit='MiB'>512</currentMemory>");

    assertThat(DomainXml.parse(xml).def().currentMemoryBytes()).isEqualTo(256L << 20);
  }

  @Test
  void parse_currentMemoryAboveMemory_warnedAboutTheLoweredValue() {
    String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>",
        "<memory unit='MiB'>256</memory><currentMemory unit='MiB'>512</currentMemory>");

    assertThat(DomainXml.parse(xml).warnings()).containsExactly("<currentMemory> of 524288 KiB "
        + "is more than <memory> (262144 KiB); lowered to 262144 KiB as libvirt does");
  }

  @Test
  void parse_currentMemoryBelowMemory_kept() {
    String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>",
        "<memory unit='MiB'>256</memory><currentMemory unit='MiB'>96</currentMemory>");

    DomainXml.Parsed parsed = DomainXml.parse(xml);
    assertThat(parsed.warnings()).isEmpty();
    assertThat(parsed.def().currentMemoryBytes()).isEqualTo(96L << 20);
    assertThat(parsed.def().memoryBytes()).isEqualTo(256L << 20);
  }

  // ---- cpu and features -------------------------------------------------------------------------

  @Test
  void parse_cpuModelAndTopology_libvirtDefaultsWritten() {
    String xml = MINIMAL.replace("<vcpu>1</vcpu>", "<vcpu>4</vcpu><cpu><model>Westmere</model>"
        + "<topology sockets='2' cores='2' threads='1'/></cpu>");

    DomainXml.Parsed parsed = DomainXml.parse(xml);
    CpuDef cpu = parsed.def().getCpu();
    assertThat(parsed.warnings()).isEmpty();
    assertThat(cpu.getMode()).isEqualTo(CpuDef.CUSTOM);
    assertThat(cpu.isHostCpu()).isFalse();
    assertThat(cpu.getModel()).isEqualTo("Westmere");
    assertThat(cpu.topology()).isEqualTo(new CpuDef.Topology(2, 1, 2, 1));
    String formatted = DomainXml.format(parsed.def());
    assertThat(formatted).contains("""
          <cpu mode="custom" match="exact">
            <model fallback="allow">Westmere</model>
            <topology sockets="2" dies="1" cores="2" threads="1"/>
          </cpu>
        """);
    assertThat(DomainXml.format(DomainXml.parse(formatted).def())).isEqualTo(formatted);
  }

  @ParameterizedTest
  @ValueSource(strings = {"host-model", "host-passthrough"})
  void parse_hostCpuModes_keptWithoutModel(String mode) {
    String xml = MINIMAL.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu><cpu mode='" + mode + "'>"
        + "<model fallback='forbid'/><topology sockets='1' dies='1' cores='1' threads='2'/></cpu>");

    CpuDef cpu = DomainXml.parse(xml).def().getCpu();
    assertThat(cpu.getMode()).isEqualTo(mode);
    assertThat(cpu.isHostCpu()).isTrue();
    assertThat(cpu.getModel()).isNull();
    assertThat(cpu.topology().threads()).isEqualTo(2);
  }

  @Test
  void parse_cpuFeatureElements_ignoredWithWarning() {
    String xml = MINIMAL.replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu><model>qemu64</model>"
        + "<feature policy='require' name='x2apic'/></cpu>");

    assertThat(DomainXml.parse(xml).warnings())
        .containsExactly("ignored element /domain/cpu/feature (line 5)");
  }

  @Test
  void parse_noFeatures_keepsQemuDefaultsAndWritesThemDown() {
    DomainDef def = DomainXml.parse(MINIMAL).def();

    assertThat(def.getFeatures().isAcpi()).isTrue();
    assertThat(def.getFeatures().isApic()).isTrue();
    assertThat(def.getFeatures().isPae()).isFalse();
    assertThat(DomainXml.format(def)).contains("""
          <features>
            <acpi/>
            <apic/>
          </features>
        """);
  }

  @Test
  void parse_featuresWithoutAcpi_acpiOffAsInLibvirt() {
    String xml = MINIMAL.replace("</os>", "</os><features><pae/><vmport state='off'/></features>");

    DomainXml.Parsed parsed = DomainXml.parse(xml);
    assertThat(parsed.def().getFeatures().isAcpi()).isFalse();
    assertThat(parsed.def().getFeatures().isApic()).isFalse();
    assertThat(parsed.def().getFeatures().isPae()).isTrue();
    assertThat(parsed.warnings())
        .containsExactly("ignored element /domain/features/vmport (line 11)");
    String formatted = DomainXml.format(parsed.def());
    assertThat(formatted).contains("<features>\n    <pae/>\n  </features>");
    assertThat(DomainXml.parse(formatted).def().getFeatures().isAcpi()).as("stays off").isFalse();
  }

  @Test
  void parse_emptyFeatures_acpiOff() {
    String xml = MINIMAL.replace("</os>", "</os><features/>");

    DomainDef def = DomainXml.parse(xml).def();
    assertThat(def.getFeatures().isAcpi()).isFalse();
    assertThat(DomainXml.parse(DomainXml.format(def)).def().getFeatures().isAcpi()).isFalse();
  }

  @Test
  void parse_missingUuid_generatesRandomUuid() {
    String xml = MINIMAL.replace("<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>", "");

    String first = DomainXml.parse(xml).def().getUuid();
    String second = DomainXml.parse(xml).def().getUuid();

    assertThat(first).matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    assertThat(second).isNotEqualTo(first);
  }

  @Test
  void copy_independentOfOriginal() {
    DomainDef original = DomainXml.parse(resource("metadata.xml")).def();
    String before = DomainXml.format(original);

    DomainDef copy = original.copy();
    copy.setName("other");
    copy.setMemoryBytes(1L << 30);
    copy.disks().get(0).setSourceFile("/elsewhere.img");
    copy.getMetadata().get(0).setTextContent("changed");

    assertThat(DomainXml.format(original)).isEqualTo(before);
    assertThat(copy.memoryKiB()).isEqualTo(1048576);
    assertThat(DomainXml.format(original.copy())).isEqualTo(before);
  }

  @Test
  void setMemoryBytes_roundsUpToKiB() {
    DomainDef def = new DomainDef();

    def.setMemoryBytes(1025);

    assertThat(def.memoryKiB()).isEqualTo(2);
    assertThat(def.memoryBytes()).isEqualTo(2048);
  }

  @Test
  void format_builtInCode_parsesBack() {
    DomainDef def = new DomainDef();
    def.setType("kvm");
    def.setName("built");
    def.setUuid("11111111-2222-3333-4444-555555555555");
    def.setMemoryBytes(512L << 20);
    def.setCurrentMemoryBytes(512L << 20);
    def.setVcpus(2);
    OsDef os = new OsDef();
    os.setOsType("hvm");
    os.setMachine("pc-i440fx-7.2");
    os.setKernel("/boot/vmlinuz");
    def.setOs(os);
    def.setOnPoweroff("destroy");
    def.setOnReboot("restart");
    def.setOnCrash("destroy");
    def.disks().add(DiskDef.file("/srv/built.qcow2", DiskDef.QCOW2, "vda"));
    def.getDevices().getSerials().add(new DevicesDef.CharDevice("pty"));
    def.getDevices().setMemballoon(new DevicesDef.Memballoon("none"));
    def.setFeatures(FeaturesDef.qemuDefaults());

    String xml = DomainXml.format(def);
    DomainXml.Parsed parsed = DomainXml.parse(xml);

    assertThat(parsed.warnings()).isEmpty();
    assertThat(DomainXml.format(parsed.def())).isEqualTo(xml);
    assertThat(xml).contains("<source file=\"/srv/built.qcow2\"/>");
  }

  // ---- refused documents ------------------------------------------------------------------------

  @Test
  void parse_billionLaughs_rejectedAsDtd() {
    String xml = """
        <!DOCTYPE domain [
          <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
          <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
          <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
          <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
        ]>
        """
        + MINIMAL.replace("<name>tiny</name>", "<name>tiny</name><description>&d;</description>");

    assertThatThrownBy(() -> DomainXml.parse(xml))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("domain XML with a DTD (<!DOCTYPE>) is not accepted; remove it");
  }

  @Test
  void parse_xxeSystemEntity_rejectedAndFileNotRead(@TempDir Path dir) throws IOException {
    Path secret = dir.resolve("passwd");
    Files.writeString(secret, "root:x:0:0:SECRET-MARKER", StandardCharsets.UTF_8);
    String xml = "<!DOCTYPE domain [<!ENTITY x SYSTEM \"" + secret.toUri() + "\">]>\n"
        + MINIMAL.replace("<name>tiny</name>", "<name>tiny</name><description>&x;</description>");

    assertThatThrownBy(() -> DomainXml.parse(xml))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("DTD")
        .hasMessageNotContaining("SECRET-MARKER");
  }

  @Test
  void parse_malformed_namesLineAndElement() {
    String xml = MINIMAL.replace("<target dev='vda' bus='virtio'/>", "<target dev='vda'>");

    assertThatThrownBy(() -> DomainXml.parse(xml))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("domain XML is malformed at line 17, column ")
        .hasMessageContaining("in element /domain/devices/disk/target")
        .hasMessageContaining("\"target\"");
  }

  @Test
  void parse_otherRoot_rejected() {
    assertThatThrownBy(() -> DomainXml.parse("<domainsnapshot><name>s</name></domainsnapshot>"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("domain XML must have the root element <domain>, not <domainsnapshot>");
  }

  static Stream<Arguments> rejections() {
    return Stream.of(
        rejection("<domain type='qemu'>", "<domain type='xen'>",
            "domain type 'xen' is not supported; use 'kvm' or 'qemu'"),
        rejection("<domain type='qemu'>", "<domain>", "domain XML has no type"),
        rejection("<name>tiny</name>", "", "domain XML has no <name>"),
        rejection("<name>tiny</name>", "<name>tiny</name><name>other</name>",
            "domain XML has more than one <name> in /domain (line 2)"),
        rejection("<devices>", "<devices><memballoon model='none'/>",
            "more than one <memballoon> in /domain/devices"),
        rejection("<name>tiny</name>", "<name> </name>", "domain XML has no <name>"),
        rejection("4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "not-a-uuid",
            "domain uuid 'not-a-uuid' is not a valid UUID"),
        rejection("<memory unit='MiB'>256</memory>", "", "domain XML has no <memory>"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>0</memory>",
            "<memory> must be more than 0, got 0"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>-5</memory>",
            "<memory> must be more than 0, got -5"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>lots</memory>",
            "<memory> value 'lots' is not a number"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='MiB'>1.5</memory>",
            "<memory> value '1.5' is not a number"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='furlongs'>256</memory>",
            "<memory> unit 'furlongs' is not known"),
        rejection("<memory unit='MiB'>256</memory>", "<memory unit='EiB'>100</memory>",
            "<memory> of 100 EiB is too large"),
        rejection("<memory unit='MiB'>256</memory>",
            "<memory unit='MiB'>256</memory><currentMemory unit='Mi'>1</currentMemory>",
            "<currentMemory> unit 'Mi' is not known"),
        rejection("<vcpu>1</vcpu>", "<vcpu>0</vcpu>", "<vcpu> '0' is not a positive number"),
        rejection("<vcpu>1</vcpu>", "<vcpu>two</vcpu>", "<vcpu> 'two' is not a positive number"),
        rejection("<vcpu>1</vcpu>", "<vcpu placement='auto'>1</vcpu>",
            "vcpu placement 'auto' is not supported"),
        rejection("<vcpu>1</vcpu>", "<vcpu>4</vcpu><cpu><topology sockets='1' cores='2' "
            + "threads='1'/></cpu>", "<cpu><topology sockets='1' dies='1' cores='2' threads='1'/>"
            + " makes 2 CPUs but <vcpu> is 4; make sockets*dies*cores*threads equal <vcpu>"),
        rejection("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu><topology sockets='0'/></cpu>",
            "<cpu><topology sockets='0'/> is not a positive number"),
        rejection("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu mode='maximum'/>",
            "cpu mode 'maximum' is not supported; use 'custom' (a named model), 'host-model' or "
                + "'host-passthrough'"),
        rejection("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu match='minimum'><model>qemu64</model>"
            + "</cpu>", "cpu match 'minimum' is not supported; use match='exact'"),
        rejection("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu><model fallback='maybe'>qemu64</model>"
            + "</cpu>", "cpu model fallback 'maybe' is not known; use 'allow' or 'forbid'"),
        rejection("<vcpu>1</vcpu>", "<vcpu>1</vcpu><cpu mode='host-passthrough'><model>Westmere"
            + "</model></cpu>", "<model>Westmere</model> would not be used"),
        rejection(">hvm<", ">xen<", "os type 'xen' is not supported; use 'hvm'"),
        rejection("<kernel>/var/lib/cryo/images/vmlinuz</kernel>", "<kernel>vmlinuz</kernel>",
            "os kernel 'vmlinuz' is not an absolute path"),
        rejection("</cmdline>", "</cmdline><boot dev='floppy'/>",
            "boot device 'floppy' is not known"),
        rejection("<disk type='file' device='disk'>", "<disk type='network' device='disk'>",
            "disk vda: type 'network' is not supported; use type='file' (an image) or "
                + "type='block' (a host device)"),
        rejection("<disk type='file' device='disk'>", "<disk type='block' device='disk'>",
            "disk vda: a type='block' disk needs <source dev='...'>"),
        rejection("<driver name='qemu' type='qcow2'/>",
            "<driver name='qemu' type='qcow2' cache='always'/>",
            "disk vda: driver cache 'always' is not supported; use one of none, writeback, "
                + "writethrough, directsync, unsafe"),
        rejection("<driver name='qemu' type='qcow2'/>",
            "<driver name='qemu' type='qcow2' io='native'/>",
            "disk vda: driver io='native' needs cache='none' or cache='directsync'"),
        rejection("<driver name='qemu' type='qcow2'/>",
            "<driver name='qemu' type='qcow2' discard='trim'/>",
            "disk vda: driver discard 'trim' is not supported; use one of unmap, ignore"),
        rejection("</disk>", "<serial>a,b</serial></disk>", "disk vda: serial 'a,b' may hold"),
        rejection("<disk type='file' device='disk'>", "<disk type='file' device='cdrom'>",
            "disk vda: a cdrom cannot sit on bus 'virtio'; use bus='sata' on q35, bus='ide' on "
                + "pc, or bus='scsi'"),
        rejection("<disk type='file' device='disk'>", "<disk type='file' device='floppy'>",
            "disk vda: device 'floppy' is not supported; use device='disk' or device='cdrom'"),
        rejection("type='qcow2'", "type='vmdk'",
            "disk vda: driver type 'vmdk' is not supported; use 'raw' or 'qcow2'"),
        rejection("<driver name='qemu'", "<driver name='tap'",
            "disk vda: driver name 'tap' is not supported; use 'qemu'"),
        rejection("bus='virtio'", "bus='usb'",
            "disk vda: target bus 'usb' is not supported; use 'virtio', 'sata' (q35), 'ide' (pc) "
                + "or 'scsi' (with a virtio-scsi controller)"),
        rejection("bus='virtio'", "bus='sata'",
            "disk vda: bus 'sata' needs the ICH9 AHCI of machine 'q35'; on pc use bus='ide'"),
        rejection("bus='virtio'", "bus='ide'",
            "disk vda: a disk on bus 'ide' is named hda to hdd (its position on the controller), "
                + "not 'vda'"),
        rejection("bus='virtio'", "bus='scsi'",
            "disk vda: bus 'scsi' needs a SCSI controller; add <controller type='scsi' "
                + "index='0' model='virtio-scsi'/>"),
        rejection("file='/var/lib/cryo/images/tiny.qcow2'", "file='images/tiny.qcow2'",
            "disk vda: source file 'images/tiny.qcow2' is not an absolute path"),
        rejection("<source file='/var/lib/cryo/images/tiny.qcow2'/>", "",
            "disk vda: no <source file='...'>"),
        rejection("<target dev='vda' bus='virtio'/>", "<target bus='virtio'/>",
            "disk #1 has no <target dev='...'>"),
        rejection("dev='vda'", "dev='vda,file=x'",
            "disk target dev 'vda,file=x' is not a device name"),
        rejection("</disk>", "</disk><disk type='file' device='disk'>"
                + "<source file='/srv/other.raw'/><target dev='vda'/></disk>",
            "disk target 'vda' is used by more than one disk"),
        rejection("<serial type='pty'/>", "<serial type='tcp'/>",
            "serial type 'tcp' is not supported; use 'pty'"),
        rejection("<memballoon model='none'/>", "<memballoon model='xen'/>",
            "memballoon model 'xen' is not supported; use 'none' or 'virtio'"),
        rejection("<serial type='pty'/>", "<interface type='network'/><serial type='pty'/>",
            "interface #1: type 'network' is not supported; use type='user'"),
        rejection("<serial type='pty'/>", nic("<mac address='52:54:00:zz:00:01'/>"),
            "interface #1: mac address '52:54:00:zz:00:01' is not six hex pairs"),
        rejection("<serial type='pty'/>", nic("<mac address='01:00:5e:00:00:01'/>"),
            "mac address '01:00:5e:00:00:01' is a multicast address"),
        rejection("<serial type='pty'/>", nic("<mac address='52:54:00:00:00:01'/>")
                + nic("<mac address='52:54:00:00:00:01'/>"),
            "interface #2: mac address 52:54:00:00:00:01 is used by another interface"),
        rejection("<serial type='pty'/>", nic("<model type='pcnet'/>"),
            "interface #1: model 'pcnet' is not supported; use one of virtio, e1000e, e1000"),
        rejection("<serial type='pty'/>", nic("<link state='sideways'/>"),
            "link state 'sideways' is not known; use 'up' or 'down'"),
        rejection("<serial type='pty'/>", nic("<ip family='ipv6' address='fd00::'/>"),
            "ip family 'ipv6' is not supported; use 'ipv4'"),
        rejection("<serial type='pty'/>", nic("<ip address='10.0.300.0'/>"),
            "ip address '10.0.300.0' is not an IPv4 address"),
        rejection("<serial type='pty'/>", nic("<portForward proto='sctp'><range start='1'/>"
                + "</portForward>"),
            "portForward: proto 'sctp' is not supported; use proto='tcp' or proto='udp'"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp'/>"),
            "portForward: has no <range"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp'>"
                + "<range start='70000' to='80'/></portForward>"),
            "range start '70000' is not a number from 1 to 65535"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp'>"
                + "<range start='8080' end='8000'/></portForward>"),
            "range end '8000' is not a number from 8080 to 65535"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp'>"
                + "<range start='8080' exclude='yes'/></portForward>"),
            "exclude ranges are not supported"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp' dev='eth0'>"
                + "<range start='8080'/></portForward>"),
            "dev 'eth0' is not supported by QEMU's user network"),
        rejection("<serial type='pty'/>", nic("<portForward proto='tcp'><range start='8080'/>"
                + "</portForward>") + nic("<portForward proto='tcp'>"
                + "<range start='8000' end='8090' to='80'/></portForward>"),
            "interface #2: portForward: host tcp port 8080 is forwarded twice"));
  }

  private static String nic(String content) {
    return "<interface type='user'>" + content + "</interface>";
  }

  @Test
  void parse_interface_defaultsWrittenAsLibvirtDoes() {
    String xml = MINIMAL.replace("<serial type='pty'/>", "<interface/>"
        + "<interface type='user'><mac address='52:54:00:AB:CD:EF'/>"
        + "<ip address='10.0.3.0'/>"
        + "<portForward proto='tcp' address='127.0.0.1'>"
        + "<range start='8080' end='8081' to='80'/>"
        + "</portForward><model type='virtio'/><link state='down'/></interface>"
        + "<serial type='pty'/>");

    DomainXml.Parsed parsed = DomainXml.parse(xml);
    List<InterfaceDef> nics = parsed.def().getDevices().getInterfaces();

    assertThat(parsed.warnings()).isEmpty();
    assertThat(nics.get(0).getType()).isEqualTo("user");
    assertThat(nics.get(0).getModel()).isEqualTo("rtl8139");
    assertThat(nics.get(0).getMac()).matches("52:54:00(:[0-9a-f]{2}){3}");
    assertThat(nics.get(0).isLinkUp()).isTrue();
    assertThat(nics.get(1).getMac()).isEqualTo("52:54:00:ab:cd:ef");
    assertThat(nics.get(1).isLinkUp()).isFalse();
    String formatted = DomainXml.format(parsed.def());
    assertThat(formatted)
        .contains("<mac address=\"" + nics.get(0).getMac() + "\"/>")
        .contains("<model type=\"rtl8139\"/>")
        .contains("<ip family=\"ipv4\" address=\"10.0.3.0\" prefix=\"24\"/>")
        .contains("<range start=\"8080\" end=\"8081\" to=\"80\"/>");
    // The generated MAC is kept: the stored XML gives the same card on every start and host.
    assertThat(DomainXml.parse(formatted).def().getDevices().getInterfaces().get(0).getMac())
        .isEqualTo(nics.get(0).getMac());
  }

  @Test
  void parse_interfaces_eachGetsItsOwnGeneratedMac() {
    String xml = MINIMAL.replace("<serial type='pty'/>",
        "<interface type='user'/>".repeat(8) + "<serial type='pty'/>");

    List<InterfaceDef> nics = DomainXml.parse(xml).def().getDevices().getInterfaces();

    assertThat(nics.stream().map(InterfaceDef::getMac).distinct()).hasSize(8);
  }

  @Test
  void parse_blockSourceAndDriverOptions_keptAsLibvirtWritesThem() {
    String xml = MINIMAL.replace("<disk type='file' device='disk'>",
            "<disk type='block' device='disk'>")
        .replace("<driver name='qemu' type='qcow2'/>",
            "<driver type='raw' cache='none' io='native' discard='unmap'/>")
        .replace("<source file='/var/lib/cryo/images/tiny.qcow2'/>",
            "<source dev='/dev/disk/by-id/x'/>")
        .replace("<target dev='vda' bus='virtio'/>",
            "<target dev='vda' bus='virtio'/><readonly/><shareable/><serial>S-1</serial>");

    DomainDef def = DomainXml.parse(xml).def();
    DiskDef disk = def.disks().get(0);
    assertThat(disk.getType()).isEqualTo("block");
    assertThat(disk.getSourceDev()).isEqualTo("/dev/disk/by-id/x");
    assertThat(disk.getSourceFile()).isNull();
    assertThat(disk.getDriverName()).isEqualTo("qemu");
    assertThat(disk.getCache()).isEqualTo("none");
    assertThat(disk.getIo()).isEqualTo("native");
    assertThat(disk.getDiscard()).isEqualTo("unmap");
    assertThat(disk.isReadonly()).isTrue();
    assertThat(disk.isShareable()).isTrue();
    assertThat(disk.getSerial()).isEqualTo("S-1");
    String formatted = DomainXml.format(def);
    assertThat(formatted).contains("<source dev=\"/dev/disk/by-id/x\"/>")
        .contains("<serial>S-1</serial>").contains("<shareable/>")
        .contains("cache=\"none\"").contains("io=\"native\"").contains("discard=\"unmap\"");
    assertThat(DomainXml.format(DomainXml.parse(formatted).def())).isEqualTo(formatted);
  }

  @ParameterizedTest
  @MethodSource("rejections")
  void parse_unsupportedValue_rejectedNamingIt(String from, String to, String message) {
    assertThat(MINIMAL).contains(from);
    String xml = MINIMAL.replace(from, to);

    assertThatThrownBy(() -> DomainXml.parse(xml))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(message);
  }

  @Test
  void parse_lifecycleActions_libvirtsQemuDriverLimits() {
    String xml = MINIMAL.replace("</os>", "</os><on_poweroff>restart</on_poweroff>"
        + "<on_reboot>destroy</on_reboot><on_crash>restart</on_crash>");
    DomainXml.Parsed parsed = DomainXml.parse(xml);
    assertThat(parsed.def().getOnPoweroff()).isEqualTo("restart");
    assertThat(parsed.def().getOnReboot()).isEqualTo("destroy");
    assertThat(parsed.warnings()).contains("on_crash restart has no effect: the guest has no "
        + "panic device to report a crash with");
    for (String refused : List.of("<on_poweroff>preserve</on_poweroff>",
        "<on_reboot>preserve</on_reboot>", "<on_poweroff>rename-restart</on_poweroff>")) {
      assertThatThrownBy(() -> DomainXml.parse(MINIMAL.replace("</os>", "</os>" + refused)))
          .isInstanceOf(InvalidArgumentException.class)
          .hasMessageContaining("is not supported; use");
    }
  }

  private static Arguments rejection(String from, String to, String message) {
    return Arguments.of(from, to, message);
  }

  private static String resource(String name) {
    try (InputStream in = DomainXmlTest.class.getResourceAsStream("/domainxml/" + name)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource domainxml/" + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
