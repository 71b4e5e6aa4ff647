package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The pure logic of {@link QemuCgroups}, against a temporary folder posing as cgroupfs. */
@Timeout(10)
class QemuCgroupsTest {
  @TempDir Path mount;

  private static final String HYBRID_MOUNTINFO = """
      25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - tmpfs tmpfs ro,mode=755
      26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
      27 25 0:25 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
      """;

  @Test
  void cgroup2Mount_findsUnifiedOnHybridHost() {
    assertThat(QemuCgroups.cgroup2Mount(HYBRID_MOUNTINFO))
        .contains(Path.of("/sys/fs/cgroup/unified"));
    assertThat(QemuCgroups.cgroup2Mount("27 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup "
        + "rw,memory\n")).isEmpty();
  }

  @Test
  void ownCgroup_readsTheV2Line() {
    assertThat(QemuCgroups.ownCgroup("4:memory:/x\n0::/system.slice/cryo.service\n"))
        .contains("/system.slice/cryo.service");
    assertThat(QemuCgroups.ownCgroup("4:memory:/x\n")).isEmpty();
  }

  @Test
  void memoryMax_isGuestPlusOverhead() {
    long gib = 1L << 30;
    assertThat(QemuCgroups.memoryMax(gib, QemuSpec.Accelerator.KVM))
        .isEqualTo(gib + gib / 16 + (256L << 20));
    assertThat(QemuCgroups.memoryMax(gib, QemuSpec.Accelerator.TCG))
        .isEqualTo(gib + gib / 16 + (256L << 20) + gib);
    assertThat(QemuCgroups.cpuWeight(1)).isEqualTo(100);
    assertThat(QemuCgroups.cpuWeight(4)).isEqualTo(400);
    assertThat(QemuCgroups.cpuWeight(1000)).isEqualTo(10_000);
  }

  @Test
  void at_withoutMemoryController_saysWhichAreMissing() throws Exception {
    Files.writeString(mount.resolve("cgroup.controllers"), "hugetlb\n");
    QemuCgroups cg = QemuCgroups.at(mount, "/", 1);
    assertThat(cg.available()).isFalse();
    assertThat(cg.unavailableReason()).contains("does not offer the cpu and memory controllers")
        .contains("offered: hugetlb");
    assertThat(cg.dir("u1")).isEmpty();
    assertThat(mount.resolve("cryo-qemu")).doesNotExist();
  }

  @Test
  void at_rootCgroup_enablesControllersAndPlacesQemu() throws Exception {
    Files.writeString(mount.resolve("cgroup.controllers"), "cpuset cpu io memory pids\n");
    Files.writeString(mount.resolve("cgroup.subtree_control"), "");
    // A real cgroupfs makes these when the folder is created; a temporary folder does not.
    Path parent = Files.createDirectories(mount.resolve("cryo-qemu"));
    Files.writeString(parent.resolve("cgroup.subtree_control"), "memory");
    QemuCgroups cg = QemuCgroups.at(mount, "/", 1);
    assertThat(cg.available()).isTrue();
    assertThat(Files.readString(mount.resolve("cgroup.subtree_control"))).isEqualTo(
        "+cpu +memory");
    assertThat(Files.readString(parent.resolve("cgroup.subtree_control"))).isEqualTo("+cpu");
    assertThat(mount.resolve("cryo-server")).doesNotExist();

    QemuCgroups.Placement p = cg.place("u1", 4242, 128L << 20, 2, QemuSpec.Accelerator.KVM);
    assertThat(p.dir()).isEqualTo(parent.resolve("u1"));
    assertThat(Files.readString(p.dir().resolve("memory.max"))).isEqualTo(
        Long.toString(QemuCgroups.memoryMax(128L << 20, QemuSpec.Accelerator.KVM)));
    assertThat(Files.readString(p.dir().resolve("cpu.weight"))).isEqualTo("200");
    assertThat(Files.readString(p.dir().resolve("cgroup.procs"))).isEqualTo("4242");
  }

  @Test
  void at_delegatedServiceCgroup_movesServerIntoLeafFirst() throws Exception {
    Path base = Files.createDirectories(mount.resolve("system.slice/cryo.service"));
    Files.writeString(base.resolve("cgroup.controllers"), "cpu memory\n");
    Files.writeString(base.resolve("cgroup.subtree_control"), "cpu memory\n");
    Files.createDirectories(base.resolve("cryo-qemu"));
    Files.writeString(base.resolve("cryo-qemu/cgroup.subtree_control"), "cpu memory");
    QemuCgroups cg = QemuCgroups.at(mount, "/system.slice/cryo.service", 77);
    assertThat(cg.available()).isTrue();
    assertThat(Files.readString(base.resolve("cryo-server/cgroup.procs"))).isEqualTo("77");
    assertThat(cg.dir("u2")).contains(base.resolve("cryo-qemu/u2"));
  }
}
