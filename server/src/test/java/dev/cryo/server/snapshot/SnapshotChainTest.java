package dev.cryo.server.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.FailedPreconditionException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The chain math of merging an external snapshot away, and where libvirt refuses. */
@Timeout(10)
class SnapshotChainTest {
  private static final Path BASE = Path.of("/img/disk.qcow2");
  private static final Path S1 = Path.of("/img/disk.s1");
  private static final Path S2 = Path.of("/img/disk.s2");
  private static final Path REVERT = Path.of("/img/disk.s1.revert-x");

  @Test
  void plan_overlayIsActiveLayer_isActiveCommit() {
    SnapshotChain.Merge m = SnapshotChain.plan("s1", "vda", List.of(S1, BASE), S1, BASE);
    assertThat(m.kind()).isEqualTo(SnapshotChain.Kind.ACTIVE);
    assertThat(m.child()).isNull();
  }

  @Test
  void plan_overlayUnderAnother_isInnerCommitRebasingTheChild() {
    SnapshotChain.Merge m = SnapshotChain.plan("s1", "vda", List.of(S2, S1, BASE), S1, BASE);
    assertThat(m.kind()).isEqualTo(SnapshotChain.Kind.INNER);
    assertThat(m.child()).isEqualTo(S2);
    assertThat(m.base()).isEqualTo(BASE);
  }

  @Test
  void plan_overlayNotInCurrentChain_isRefused() {
    assertThatThrownBy(() -> SnapshotChain.plan("s1", "vda", List.of(REVERT, BASE), S1, BASE))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("not in the disk's current backing chain")
        .hasMessageContaining("metadata_only");
  }

  @Test
  void plan_backingIsNotTheFrozenFile_isRefused() {
    assertThatThrownBy(() -> SnapshotChain.plan("s2", "vda", List.of(S2, S1, BASE), S2, BASE))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("backing file of " + S2).hasMessageContaining("is " + S1);
    assertThatThrownBy(() -> SnapshotChain.plan("s1", "vda", List.of(S1), S1, BASE))
        .isInstanceOf(FailedPreconditionException.class).hasMessageContaining("missing");
  }

  @Test
  void checkDeletable_followsLibvirtsRefusals() {
    SnapshotDef snap = external("s1");
    assertThatCode(() -> SnapshotChain.checkDeletable(snap, List.of(), false))
        .doesNotThrowAnyException();
    assertThatCode(() -> SnapshotChain.checkDeletable(snap, List.of(external("s2")), false))
        .doesNotThrowAnyException();
    assertThatThrownBy(() -> SnapshotChain.checkDeletable(snap, List.of(), true))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("together with its children");
    assertThatThrownBy(() -> SnapshotChain.checkDeletable(snap,
        List.of(external("a"), external("b")), false))
        .isInstanceOf(FailedPreconditionException.class).hasMessageContaining("2 children");
    assertThatThrownBy(() -> SnapshotChain.checkDeletable(snap, List.of(internal("i")), false))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("internal snapshot");
  }

  private static SnapshotDef external(String name) {
    return SnapshotXml.parse("<domainsnapshot><name>" + name + "</name><state>disk-snapshot"
        + "</state><creationTime>1</creationTime><memory snapshot='no'/><disks>"
        + "<disk name='vda' snapshot='external'><source file='/img/disk." + name + "'/></disk>"
        + "</disks><domain type='kvm'><name>vm1</name>"
        + "<uuid>6f1f3f2e-52a4-4c4b-9d0e-3c8f0a7e1b11</uuid><memory unit='MiB'>64</memory>"
        + "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' "
        + "device='disk'><driver name='qemu' type='qcow2'/><source file='/img/disk.qcow2'/>"
        + "<target dev='vda' bus='virtio'/></disk></devices></domain></domainsnapshot>", true);
  }

  private static SnapshotDef internal(String name) {
    return SnapshotXml.parse("<domainsnapshot><name>" + name + "</name><state>shutoff</state>"
        + "<creationTime>1</creationTime><memory snapshot='no'/><disks>"
        + "<disk name='vda' snapshot='internal'/></disks></domainsnapshot>", true);
  }
}
