package dev.cryo.server.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.InvalidArgumentException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * xml2xml in the style of libvirt's tests/qemudomaincheckpointxml2xmltest.c: each file in
 * {@code checkpointxml/in} is parsed as a create request, aligned with a domain that has two
 * qcow2 disks (vda, vdb) and a raw one (vdc), given libvirt's sample name, parent and time, and
 * must format to {@code checkpointxml/out}; the output must read back to itself.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class CheckpointXmlTest {
  static final String DOMAIN = """
      <domain type='qemu'>
        <name>guest1</name>
        <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
        <memory unit='MiB'>128</memory>
        <vcpu>1</vcpu>
        <os><type arch='x86_64' machine='pc'>hvm</type></os>
        <devices>
          <disk type='file' device='disk'>
            <driver name='qemu' type='qcow2'/><source file='/tmp/data.qcow2'/>
            <target dev='vda' bus='virtio'/>
          </disk>
          <disk type='file' device='disk'>
            <driver name='qemu' type='qcow2'/><source file='/tmp/logs.qcow2'/>
            <target dev='vdb' bus='virtio'/>
          </disk>
          <disk type='file' device='disk'>
            <driver name='qemu' type='raw'/><source file='/tmp/swap.raw'/>
            <target dev='vdc' bus='virtio'/>
          </disk>
        </devices>
      </domain>
      """;

  static DomainDef domain() {
    return DomainXml.parse(DOMAIN).def();
  }

  @ParameterizedTest
  @ValueSource(strings = {"sample", "disk-default", "empty", "custom-bitmap"})
  void create_fixture_matchesLibvirtOutput(String name) {
    CheckpointDef def = CheckpointXml.parse(resource("in/" + name + ".xml"),
        CheckpointXml.Mode.CREATE);
    if (def.getName() == null) {
      def.setName("1525889631");
    }
    CheckpointXml.align(def, domain());
    def.setParent("1525111885");
    def.setCreationTime(1525889631L);

    String out = CheckpointXml.format(def, false);

    assertThat(out).isEqualTo(resource("out/" + name + ".xml"));
    CheckpointDef again = CheckpointXml.parse(out, CheckpointXml.Mode.REDEFINE);
    assertThat(CheckpointXml.format(again, false)).isEqualTo(out);
  }

  @Test
  void redefine_fixture_keepsParentTimeSizeAndDomain() {
    CheckpointDef def = CheckpointXml.parse(resource("in/redefine.xml"),
        CheckpointXml.Mode.REDEFINE);
    CheckpointXml.align(def, def.getDomain());

    String out = CheckpointXml.format(def);

    assertThat(out).isEqualTo(resource("out/redefine.xml"));
    assertThat(def.getParent()).isEqualTo("c0");
    assertThat(def.disks().get(0).getSize()).isEqualTo(1048576L);
    assertThat(CheckpointXml.format(CheckpointXml.parse(out, CheckpointXml.Mode.REDEFINE)))
        .isEqualTo(out);
  }

  @ParameterizedTest
  @ValueSource(strings = {"../escape", "a/b", ".hidden", "nul\u0000byte", "tab\there"})
  void parse_hostileName_invalidArgument(String name) {
    String xml = "<domaincheckpoint><name>" + name.replace("\u0000", "&#0;")
        + "</name></domaincheckpoint>";
    assertThatThrownBy(() -> CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE))
        .isInstanceOf(InvalidArgumentException.class);
  }

  @Test
  void parse_300CharacterName_invalidArgument() {
    String xml = "<domaincheckpoint><name>" + "x".repeat(300) + "</name></domaincheckpoint>";
    assertThatThrownBy(() -> CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("300 characters");
  }

  @Test
  void parse_doctype_refused() {
    String xml = "<!DOCTYPE x [<!ENTITY a 'aaaa'>]><domaincheckpoint><name>&a;</name>"
        + "</domaincheckpoint>";
    assertThatThrownBy(() -> CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("DTD");
  }

  @Test
  void parse_unknownCheckpointType_invalidArgument() {
    String xml = "<domaincheckpoint><disks><disk name='vda' checkpoint='snapshot'/></disks>"
        + "</domaincheckpoint>";
    assertThatThrownBy(() -> CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("'bitmap' or 'no'");
  }

  @Test
  void parse_diskTwice_invalidArgument() {
    String xml = "<domaincheckpoint><disks><disk name='vda'/><disk name='vda'/></disks>"
        + "</domaincheckpoint>";
    assertThatThrownBy(() -> CheckpointXml.parse(xml, CheckpointXml.Mode.CREATE))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("twice");
  }

  @Test
  void parse_redefineWithoutCreationTime_invalidArgument() {
    assertThatThrownBy(() -> CheckpointXml.parse("<domaincheckpoint><name>c1</name>"
        + "</domaincheckpoint>", CheckpointXml.Mode.REDEFINE))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("creationTime");
  }

  @Test
  void align_bitmapOnRawDisk_invalidArgument() {
    CheckpointDef def = CheckpointXml.parse("<domaincheckpoint><name>c</name><disks>"
        + "<disk name='vdc'/></disks></domaincheckpoint>", CheckpointXml.Mode.CREATE);
    assertThatThrownBy(() -> CheckpointXml.align(def, domain()))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("qcow2");
  }

  @Test
  void align_unknownDisk_invalidArgument() {
    CheckpointDef def = CheckpointXml.parse("<domaincheckpoint><name>c</name><disks>"
        + "<disk name='vdz'/></disks></domaincheckpoint>", CheckpointXml.Mode.CREATE);
    assertThatThrownBy(() -> CheckpointXml.align(def, domain()))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("vdz");
  }

  @Test
  void align_noBitmapSelected_invalidArgument() {
    CheckpointDef def = CheckpointXml.parse("<domaincheckpoint><name>c</name><disks>"
        + "<disk name='vda' checkpoint='no'/></disks></domaincheckpoint>",
        CheckpointXml.Mode.CREATE);
    assertThatThrownBy(() -> CheckpointXml.align(def, domain()))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("no disk");
  }

  static String resource(String name) {
    try (InputStream in = CheckpointXmlTest.class.getResourceAsStream("/checkpointxml/" + name)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource " + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
