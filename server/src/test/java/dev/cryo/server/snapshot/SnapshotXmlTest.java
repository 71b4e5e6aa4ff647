package dev.cryo.server.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.snapshot.SnapshotPlan.Decision;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * xml2xml in the style of libvirt's tests/qemudomainsnapshotxml2xml{in,out}: each input is parsed
 * (for create, also planned and aligned against {@code domain.xml}, with the creation time fixed)
 * and formatted; the result must be the matching output file, which is then parsed again and must
 * format to itself.
 */
@Timeout(30)
class SnapshotXmlTest {
  private static final long NOW = 1272917631L;

  @ParameterizedTest(name = "{0} ({1}, {2})")
  @CsvSource({
      "disk_snapshot, create, online-disk-only",
      "noparent, create, online",
      "external_vm, create, online",
      "offline_internal, create, offline",
      "all_parameters_redefine, redefine, -",
      "disk_snapshot_redefine, redefine, -",
  })
  void parseFormat_matchesOutput(String test, String mode, String state) throws IOException {
    String in = resource("in/" + test + ".xml");
    SnapshotDef def;
    DomainDef domain = DomainXml.parse(resource("domain.xml")).def();
    if (mode.equals("redefine")) {
      def = SnapshotXml.parse(in, true);
    } else {
      def = SnapshotXml.parse(in, false);
      boolean online = !state.equals("offline");
      Decision d = SnapshotPlan.decide(online, SnapshotXml.memoryRequest(def),
          SnapshotXml.diskRequest(def, domain.disks().size()), state.endsWith("disk-only"));
      assertThat(d.verdict()).isEqualTo(SnapshotPlan.Verdict.VALID);
      if (def.name == null) {
        def.name = Long.toString(NOW);
      }
      SnapshotXml.align(def, domain, d.memory(), d.disk());
      def.creationTime = NOW;
      def.state = online ? (d.memory() == SnapshotDef.Location.NO ? "disk-snapshot" : "running")
          : "shutoff";
      def.domain = null; // the out files, like libvirt's, leave the long domain XML out
    }
    String out = SnapshotXml.format(def);
    // Kept for review and for regenerating out/ after a deliberate format change.
    Path actual = Path.of("target", "snapshotxml-actual", test + ".xml");
    Files.createDirectories(actual.getParent());
    Files.writeString(actual, out);
    assertThat(out).isEqualTo(resource("out/" + test + ".xml"));
    assertThat(SnapshotXml.format(SnapshotXml.parse(out, true))).isEqualTo(out);
  }

  @Test
  void parse_create_dropsOutputOnlyElements() throws IOException {
    SnapshotDef def = SnapshotXml.parse(resource("in/external_vm.xml"), false);
    assertThat(def.parentName()).isNull();
    assertThat(def.state()).isNull();
    assertThat(def.memoryFile()).isEqualTo("/var/lib/cryo/images/GuestMemory");
  }

  @Test
  void parse_memoryFileWithoutExternal_isRefused() {
    assertThatThrownBy(() -> SnapshotXml.parse(
        "<domainsnapshot><memory snapshot='internal' file='/x'/></domainsnapshot>", false))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("requires");
  }

  @Test
  void parse_fileWithoutSnapshotAttribute_meansExternal() {
    SnapshotDef def = SnapshotXml.parse(
        "<domainsnapshot><memory file='/x'/></domainsnapshot>", false);
    assertThat(def.memoryLocation()).isEqualTo(SnapshotDef.Location.EXTERNAL);
  }

  @Test
  void parse_badNames_areRefused() {
    for (String name : new String[] {"a/b", "..", ".hidden", "x".repeat(300), "a&#9;b"}) {
      assertThatThrownBy(() -> SnapshotXml.parse("<domainsnapshot><name>" + name
          + "</name></domainsnapshot>", false)).as(name)
          .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("snapshot name");
    }
    // XML cannot carry a NUL at all: the parser refuses it before the name rule sees it.
    assertThatThrownBy(() -> SnapshotXml.parse("<domainsnapshot><name>a&#0;b</name>"
        + "</domainsnapshot>", false)).isInstanceOf(InvalidArgumentException.class);
  }

  @Test
  void parse_dtd_isRefused() {
    assertThatThrownBy(() -> SnapshotXml.parse("<!DOCTYPE x [<!ENTITY e SYSTEM "
        + "'file:///etc/passwd'>]><domainsnapshot><name>&e;</name></domainsnapshot>", false))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("DTD");
  }

  @Test
  void diskRequest_mixingInternalAndExternal_isRefused() {
    SnapshotDef def = SnapshotXml.parse("<domainsnapshot><disks><disk name='vda' "
        + "snapshot='internal'/><disk name='vdb' snapshot='external'/></disks>"
        + "</domainsnapshot>", false);
    assertThatThrownBy(() -> SnapshotXml.diskRequest(def))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("mix");
  }

  @Test
  void align_unknownDisk_isRefused() throws IOException {
    SnapshotDef def = SnapshotXml.parse("<domainsnapshot><name>s</name><disks><disk name='vdz' "
        + "snapshot='internal'/></disks></domainsnapshot>", false);
    DomainDef domain = DomainXml.parse(resource("domain.xml")).def();
    assertThatThrownBy(() -> SnapshotXml.align(def, domain, SnapshotDef.Location.INTERNAL,
        SnapshotDef.Location.INTERNAL)).isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("vdz");
  }

  @Test
  void align_cdrom_leftOutByDefaultAndRefusedWhenAsked() throws IOException {
    String cdrom = "<disk type='file' device='cdrom'><source file='/img/a.iso'/>"
        + "<target dev='hdc' bus='ide'/></disk></devices>";
    DomainDef domain = DomainXml.parse(resource("domain.xml").replace("</devices>", cdrom))
        .def();
    SnapshotDef def = SnapshotXml.parse("<domainsnapshot><name>s</name></domainsnapshot>", false);
    SnapshotXml.align(def, domain, SnapshotDef.Location.EXTERNAL, SnapshotDef.Location.EXTERNAL);
    assertThat(def.disks()).filteredOn(d -> d.name.equals("hdc")).singleElement()
        .satisfies(d -> assertThat(d.location()).isEqualTo(SnapshotDef.Location.NO));

    SnapshotDef asked = SnapshotXml.parse("<domainsnapshot><name>s</name><disks><disk "
        + "name='hdc' snapshot='external'/></disks></domainsnapshot>", false);
    assertThatThrownBy(() -> SnapshotXml.align(asked, domain, SnapshotDef.Location.EXTERNAL,
        SnapshotDef.Location.EXTERNAL)).isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("disk hdc is a cdrom");
  }

  @Test
  void align_internalOnRaw_isFailedPrecondition() throws IOException {
    DomainDef domain = DomainXml.parse(resource("domain.xml").replace("type='qcow2'",
        "type='raw'")).def();
    SnapshotDef def = SnapshotXml.parse("<domainsnapshot><name>s</name></domainsnapshot>", false);
    assertThatThrownBy(() -> SnapshotXml.align(def, domain, SnapshotDef.Location.INTERNAL,
        SnapshotDef.Location.INTERNAL)).isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("qcow2");
  }

  @Test
  void generatedOverlay_replacesExtension() {
    assertThat(SnapshotXml.generatedOverlay("/d/disk.qcow2", "s1")).isEqualTo("/d/disk.s1");
    assertThat(SnapshotXml.generatedOverlay("/d.x/disk", "s1")).isEqualTo("/d.x/disk.s1");
  }

  static String resource(String name) throws IOException {
    try (InputStream in = SnapshotXmlTest.class.getResourceAsStream("/snapshotxml/" + name)) {
      if (in == null) {
        throw new IOException("missing test resource " + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
