package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class QemuCommandLineTest {
  private static final RunDir RUN = new RunDir(Path.of("/run/cryo/u1"));

  private static QemuSpec spec(List<QemuSpec.Disk> disks, Path kernel) {
    return spec(disks, kernel, List.of());
  }

  private static QemuSpec spec(List<QemuSpec.Disk> disks, Path kernel, List<QemuSpec.Nic> nics) {
    return spec(disks, kernel, nics, QemuSpec.Cpu.DEFAULT, true);
  }

  private static QemuSpec spec(List<QemuSpec.Disk> disks, Path kernel, List<QemuSpec.Nic> nics,
      QemuSpec.Cpu cpu, boolean acpi) {
    return new QemuSpec("vm1", "c7a5fdbd-edaf-9455-926a-d65c16db1809", 131072, 2,
        "pc-i440fx-7.2", QemuSpec.Accelerator.TCG, kernel,
        kernel == null ? null : Path.of("/boot/initrd"), "console=ttyS0 quiet", disks, null,
        false, nics, List.of(), null, cpu, acpi,
        QemuSpec.Lifecycle.DEFAULT, null, List.of(), List.of(), null);
  }

  private static List<String> argv(QemuSpec spec) {
    return QemuCommandLine.build(Path.of("qemu"), spec, RUN, QemuCommandLine.Incoming.NONE);
  }

  @Test
  void build_defaultCpu_noCpuOptionAndOneSocketPerVcpu() {
    List<String> argv = argv(spec(List.of(), null));

    assertThat(argv).doesNotContain("-cpu")
        .containsSubsequence("-smp", "2,sockets=2,cores=1,threads=1");
  }

  @Test
  void build_namedModelAndTopology_libvirtCpuAndSmp() {
    List<String> argv = argv(spec(List.of(), null, List.of(),
        new QemuSpec.Cpu("Westmere", new QemuSpec.Topology(1, 1, 2, 1)), true));

    assertThat(argv).containsSubsequence("-accel", "tcg", "-cpu", "Westmere", "-m")
        .containsSubsequence("-smp", "2,sockets=1,dies=1,cores=2,threads=1");
  }

  @Test
  void build_hostCpu_cpuHost() {
    assertThat(argv(spec(List.of(), null, List.of(), new QemuSpec.Cpu(QemuSpec.Cpu.HOST, null),
        true))).containsSubsequence("-cpu", "host");
  }

  @Test
  void build_acpiOff_onTheMachine() {
    assertThat(argv(spec(List.of(), null, List.of(), QemuSpec.Cpu.DEFAULT, false)))
        .containsSubsequence("-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off,acpi=off");
  }

  @Test
  void spec_topologyNotMatchingVcpus_refused() {
    assertThatThrownBy(() -> spec(List.of(), null, List.of(),
        new QemuSpec.Cpu(null, new QemuSpec.Topology(2, 1, 2, 1)), true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is not 2 vcpus");
  }

  @Test
  void build_directKernelBoot_hasLibvirtShape() {
    List<String> argv = QemuCommandLine.build(Path.of("/usr/bin/qemu-system-x86_64"),
        spec(List.of(), Path.of("/boot/vmlinuz")), RUN, QemuCommandLine.Incoming.NONE);
    assertThat(argv.get(0)).isEqualTo("/usr/bin/qemu-system-x86_64");
    assertThat(argv).containsSubsequence("-S")
        .containsSubsequence("-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off")
        .containsSubsequence("-accel", "tcg")
        .containsSubsequence("-m", "size=131072k")
        .containsSubsequence("-smp", "2,sockets=2,cores=1,threads=1")
        .containsSubsequence("-kernel", "/boot/vmlinuz", "-initrd", "/boot/initrd", "-append",
            "console=ttyS0 quiet")
        .containsSubsequence("-qmp", "unix:/run/cryo/u1/qmp.sock,server=on,wait=off")
        .containsSubsequence("-device", "isa-serial,chardev=charserial0,id=serial0")
        .contains("-nodefaults", "-no-user-config")
        .doesNotContain("-incoming");
  }

  @Test
  void build_confinement_seccompAndQmpAsOnlyMonitor() {
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(), null), RUN,
        QemuCommandLine.Incoming.NONE);
    assertThat(argv).containsSubsequence("-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    assertThat(argv).contains("-nodefaults")
        .doesNotContain("-monitor", "-mon", "-runas", "-daemonize", "-chroot");
    assertThat(argv.stream().filter(a -> a.equals("-qmp"))).hasSize(1);
  }

  @Test
  void build_disks_useJsonBlockdevsWithStableNodeNames() {
    QemuSpec.Disk disk = new QemuSpec.Disk("vda", Path.of("/img/a,b.qcow2"),
        QemuSpec.DiskFormat.QCOW2, false);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(disk), null), RUN,
        QemuCommandLine.Incoming.NONE);
    List<JsonObject> blockdevs = values(argv, "-blockdev");
    assertThat(blockdevs).hasSize(2);
    assertThat(blockdevs.get(0).get("filename").getAsString()).isEqualTo("/img/a,b.qcow2");
    assertThat(blockdevs.get(0).get("node-name").getAsString()).isEqualTo("cryo-vda-storage");
    assertThat(blockdevs.get(1).get("driver").getAsString()).isEqualTo("qcow2");
    assertThat(blockdevs.get(1).get("node-name").getAsString()).isEqualTo("cryo-vda-format");
    JsonObject device = values(argv, "-device").get(0);
    assertThat(device.get("drive").getAsString()).isEqualTo("cryo-vda-format");
    assertThat(device.get("bootindex").getAsInt()).isEqualTo(1);
  }

  @Test
  void build_defaultDisk_hasNoCacheOrSerialProperties() {
    QemuSpec.Disk disk = new QemuSpec.Disk("vda", Path.of("/img/a.raw"),
        QemuSpec.DiskFormat.RAW, false);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(disk), null), RUN,
        QemuCommandLine.Incoming.NONE);
    List<JsonObject> blockdevs = values(argv, "-blockdev");
    assertThat(blockdevs.get(0).toString()).isEqualTo("{\"driver\":\"file\","
        + "\"filename\":\"/img/a.raw\",\"node-name\":\"cryo-vda-storage\","
        + "\"auto-read-only\":true,\"discard\":\"unmap\"}");
    assertThat(blockdevs.get(1).toString()).isEqualTo("{\"node-name\":\"cryo-vda-format\","
        + "\"read-only\":false,\"driver\":\"raw\",\"file\":\"cryo-vda-storage\"}");
    assertThat(values(argv, "-device").get(0).keySet())
        .containsExactly("driver", "drive", "id", "bootindex");
  }

  /**
   * libvirt 9's argv for {@code <disk type='block'>} with
   * {@code <driver cache='none' io='native' discard='unmap'/>}, {@code <shareable/>} and
   * {@code <serial>} (tests/qemuxmlconfdata/disk-cache.x86_64-latest.args and
   * disk-serial, disk-shared, disk-discard): host_device, aio, cache.direct/no-flush on both
   * nodes, share-rw, write-cache and serial on the device.
   */
  @Test
  void build_blockDiskWithDriverOptions_matchesLibvirt() {
    QemuSpec.Disk disk = new QemuSpec.Disk("vdb", Path.of("/dev/sdz"), QemuSpec.DiskFormat.RAW,
        false, true, "none", "native", "unmap", true, "WD-123", null, null);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(disk), null), RUN,
        QemuCommandLine.Incoming.NONE);
    List<JsonObject> blockdevs = values(argv, "-blockdev");
    assertThat(blockdevs.get(0).toString()).isEqualTo("{\"driver\":\"host_device\","
        + "\"filename\":\"/dev/sdz\",\"node-name\":\"cryo-vdb-storage\",\"aio\":\"native\","
        + "\"cache\":{\"direct\":true,\"no-flush\":false},\"auto-read-only\":true,"
        + "\"discard\":\"unmap\"}");
    assertThat(blockdevs.get(1).toString()).isEqualTo("{\"node-name\":\"cryo-vdb-format\","
        + "\"read-only\":false,\"discard\":\"unmap\","
        + "\"cache\":{\"direct\":true,\"no-flush\":false},\"driver\":\"raw\","
        + "\"file\":\"cryo-vdb-storage\"}");
    JsonObject device = values(argv, "-device").get(0);
    assertThat(device.get("share-rw").getAsBoolean()).isTrue();
    assertThat(device.get("write-cache").getAsString()).isEqualTo("on");
    assertThat(device.get("serial").getAsString()).isEqualTo("WD-123");
    assertThat(device.get("drive").getAsString()).isEqualTo("cryo-vdb-format");
  }

  @Test
  void build_cacheModes_mapAsLibvirtDoes() {
    assertCache("writethrough", false, false, "off");
    assertCache("writeback", false, false, "on");
    assertCache("directsync", true, false, "off");
    assertCache("unsafe", false, true, "on");
  }

  private static void assertCache(String mode, boolean direct, boolean noFlush, String wc) {
    QemuSpec.Disk disk = new QemuSpec.Disk("vda", Path.of("/img/a.qcow2"),
        QemuSpec.DiskFormat.QCOW2, false, false, mode, null, null, false, null, null, null);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(disk), null), RUN,
        QemuCommandLine.Incoming.NONE);
    for (JsonObject node : values(argv, "-blockdev")) {
      JsonObject cache = node.getAsJsonObject("cache");
      assertThat(cache.get("direct").getAsBoolean()).as(mode).isEqualTo(direct);
      assertThat(cache.get("no-flush").getAsBoolean()).as(mode).isEqualTo(noFlush);
    }
    assertThat(values(argv, "-device").get(0).get("write-cache").getAsString()).as(mode)
        .isEqualTo(wc);
  }

  @Test
  void build_incoming_addsIncomingOption() {
    assertThat(QemuCommandLine.build(Path.of("qemu"), spec(List.of(), null), RUN,
        QemuCommandLine.Incoming.STDIN)).containsSubsequence("-incoming", "fd:0");
    assertThat(QemuCommandLine.build(Path.of("qemu"), spec(List.of(), null), RUN,
        QemuCommandLine.Incoming.DEFER)).containsSubsequence("-incoming", "defer");
  }

  @Test
  void build_hostileValues_cannotInjectOptions() {
    QemuSpec hostile = new QemuSpec("evil,chardev=x", "c7a5fdbd-edaf-9455-926a-d65c16db1809",
        65536, 1, "pc", QemuSpec.Accelerator.TCG, null, null, null, List.of(),
        new QemuSpec.Usb("piix3-usb-uhci", null), true,
        List.of(new QemuSpec.Nic(0, "52:54:00:00:00:01", QemuSpec.NicModel.VIRTIO, null,
            List.of(new QemuSpec.HostForward(false, "127.0.0.1,hostfwd=tcp::22", 1, 2)), true,
            null)), List.of(), null, QemuSpec.Cpu.DEFAULT, true, QemuSpec.Lifecycle.DEFAULT, null,
        List.of(), List.of(), null);
    RunDir run = new RunDir(Path.of("/tmp/a,server=off"));
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), hostile, run,
        QemuCommandLine.Incoming.NONE);
    assertThat(argv).contains("guest=evil,,chardev=x,debug-threads=on")
        .contains("unix:/tmp/a,,server=off/qmp.sock,server=on,wait=off")
        .contains("pc,dump-guest-core=off");
    // A value inside a JSON string stays one forward: QEMU's JSON parser sees no option syntax.
    assertThat(values(argv, "-netdev").get(0).getAsJsonArray("hostfwd")).hasSize(1);
  }

  @Test
  void build_nics_userNetdevAndDeviceAsLibvirtNamesThem() {
    QemuSpec.Nic nic = new QemuSpec.Nic(1, "52:54:00:12:34:56", QemuSpec.NicModel.E1000E,
        "10.0.3.0/24", List.of(new QemuSpec.HostForward(false, "127.0.0.1", 8080, 80),
            new QemuSpec.HostForward(true, null, 5353, 53)), true, null);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec(List.of(), null, List.of(nic)),
        RUN, QemuCommandLine.Incoming.NONE);
    JsonObject netdev = values(argv, "-netdev").get(0);
    assertThat(netdev.toString()).isEqualTo("{\"type\":\"user\",\"id\":\"hostnet1\","
        + "\"net\":\"10.0.3.0/24\",\"hostfwd\":[{\"str\":\"tcp:127.0.0.1:8080-:80\"},"
        + "{\"str\":\"udp::5353-:53\"}]}");
    JsonObject device = values(argv, "-device").get(0);
    assertThat(device.toString()).isEqualTo("{\"driver\":\"e1000e\",\"netdev\":\"hostnet1\","
        + "\"id\":\"net1\",\"mac\":\"52:54:00:12:34:56\"}");
  }

  /**
   * libvirt 9's argv for a q35 guest whose define gave each device a root port ({@code virsh
   * domxml-to-native qemu-argv}): the ports as functions of root bus slot 1, the first one
   * multifunction, each device at slot 0 behind its port, the USB controller as a device.
   */
  @Test
  void build_q35Addresses_matchLibvirt() {
    QemuSpec.Disk disk = new QemuSpec.Disk("vda", Path.of("/img/a.qcow2"),
        QemuSpec.DiskFormat.QCOW2, false, false, null, null, null, false, null,
        new QemuSpec.PciAddress("pci.2", 0, 0, false), null);
    QemuSpec.Nic nic = new QemuSpec.Nic(0, "52:54:00:39:93:5f", QemuSpec.NicModel.VIRTIO, null,
        List.of(), true, new QemuSpec.PciAddress("pci.1", 0, 0, false));
    QemuSpec spec = new QemuSpec("vm1", "c7a5fdbd-edaf-9455-926a-d65c16db1809", 65536, 1,
        "pc-q35-7.2", QemuSpec.Accelerator.TCG, null, null, null, List.of(disk),
        new QemuSpec.Usb("qemu-xhci", new QemuSpec.PciAddress("pci.3", 0, 0, false)), true,
        List.of(nic),
        List.of(new QemuSpec.PciController("pcie-root-port", 1, 1, 8,
                new QemuSpec.PciAddress("pcie.0", 1, 0, true)),
            new QemuSpec.PciController("pcie-root-port", 2, 2, 9,
                new QemuSpec.PciAddress("pcie.0", 1, 1, false))),
        new QemuSpec.PciAddress("pcie.0", 2, 0, false), QemuSpec.Cpu.DEFAULT, true,
        QemuSpec.Lifecycle.DEFAULT, null, List.of(), List.of(), null);
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec, RUN,
        QemuCommandLine.Incoming.NONE);
    assertThat(argv).contains("pc-q35-7.2,usb=off,dump-guest-core=off");
    assertThat(values(argv, "-device")).extracting(JsonObject::toString).containsSubsequence(
        "{\"driver\":\"pcie-root-port\",\"port\":8,\"chassis\":1,\"id\":\"pci.1\","
            + "\"bus\":\"pcie.0\",\"multifunction\":true,\"addr\":\"0x1\"}",
        "{\"driver\":\"pcie-root-port\",\"port\":9,\"chassis\":2,\"id\":\"pci.2\","
            + "\"bus\":\"pcie.0\",\"addr\":\"0x1.0x1\"}",
        "{\"driver\":\"qemu-xhci\",\"id\":\"usb\",\"bus\":\"pci.3\",\"addr\":\"0x0\"}",
        "{\"driver\":\"virtio-blk-pci\",\"bus\":\"pci.2\",\"addr\":\"0x0\","
            + "\"drive\":\"cryo-vda-format\",\"id\":\"virtio-vda\",\"bootindex\":1}",
        "{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\","
            + "\"mac\":\"52:54:00:39:93:5f\",\"bus\":\"pci.1\",\"addr\":\"0x0\"}",
        "{\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\",\"bus\":\"pcie.0\","
            + "\"addr\":\"0x2\"}");
  }

  @Test
  void build_lifecycleActions_asQemuActions() {
    assertThat(argv(spec(List.of(), null))).doesNotContain("-action");
    QemuSpec base = spec(List.of(), null);
    QemuSpec both = new QemuSpec(base.name(), base.uuid(), base.memoryKib(), base.vcpus(),
        base.machine(), base.accelerator(), null, null, null, List.of(), null, false, List.of(),
        List.of(), null, QemuSpec.Cpu.DEFAULT, true, new QemuSpec.Lifecycle(true, true), null,
        List.of(), List.of(), null);
    assertThat(argv(both)).containsSubsequence("-action", "shutdown=pause", "-action",
        "reboot=shutdown");
  }

  /** libvirt 9's argv for a VGA card, a virtio rng and a USB tablet (domxml-to-native). */
  @Test
  void build_videoRngTablet_matchLibvirt() {
    QemuSpec base = spec(List.of(), null);
    QemuSpec spec = new QemuSpec(base.name(), base.uuid(), base.memoryKib(), base.vcpus(),
        base.machine(), base.accelerator(), null, null, null, List.of(),
        new QemuSpec.Usb("piix3-usb-uhci", new QemuSpec.PciAddress("pci.0", 1, 2, false)), false,
        List.of(), List.of(), null, QemuSpec.Cpu.DEFAULT, true, QemuSpec.Lifecycle.DEFAULT,
        new QemuSpec.Video("VGA", 16, new QemuSpec.PciAddress("pci.0", 2, 0, false)),
        List.of(new QemuSpec.Rng(Path.of("/dev/urandom"),
            new QemuSpec.PciAddress("pci.0", 8, 0, false))), List.of(1), null);
    List<String> argv = argv(spec);
    assertThat(values(argv, "-device")).extracting(JsonObject::toString).contains(
        "{\"driver\":\"usb-tablet\",\"id\":\"input0\",\"bus\":\"usb.0\",\"port\":\"1\"}",
        "{\"driver\":\"VGA\",\"id\":\"video0\",\"vgamem_mb\":16,\"bus\":\"pci.0\","
            + "\"addr\":\"0x2\"}",
        "{\"driver\":\"virtio-rng-pci\",\"rng\":\"objrng0\",\"id\":\"rng0\","
            + "\"bus\":\"pci.0\",\"addr\":\"0x8\"}");
    assertThat(values(argv, "-object")).extracting(JsonObject::toString).contains(
        "{\"qom-type\":\"rng-random\",\"id\":\"objrng0\",\"filename\":\"/dev/urandom\"}");
  }

  private static QemuSpec.Disk onController(String target, String source, QemuSpec.DiskBus bus,
      boolean cdrom, int busNumber, int unit) {
    return new QemuSpec.Disk(target, source == null ? null : Path.of(source),
        QemuSpec.DiskFormat.RAW, cdrom, false, null, null, null, false, null, null,
        new QemuSpec.Drive(bus, cdrom, 0, busNumber, 0, unit));
  }

  /** The -device lines libvirt 9 writes for the same disks ({@code domxml-to-native}). */
  @Test
  void build_disksOnControllers_libvirtsDevices() {
    List<QemuSpec.Disk> disks = List.of(
        onController("sda", "/img/a.iso", QemuSpec.DiskBus.SATA, true, 0, 0),
        onController("sdb", "/img/d.raw", QemuSpec.DiskBus.SATA, false, 0, 1),
        onController("sdc", null, QemuSpec.DiskBus.SATA, true, 0, 2),
        onController("hda", "/img/d.raw", QemuSpec.DiskBus.IDE, false, 0, 0),
        onController("hdb", null, QemuSpec.DiskBus.IDE, true, 0, 1),
        onController("hdc", "/img/a.iso", QemuSpec.DiskBus.IDE, true, 1, 0),
        onController("sdd", "/img/d.raw", QemuSpec.DiskBus.SCSI, false, 0, 0),
        onController("sde", "/img/a.iso", QemuSpec.DiskBus.SCSI, true, 0, 1));
    QemuSpec spec = new QemuSpec("vm1", "c7a5fdbd-edaf-9455-926a-d65c16db1809", 65536, 1,
        "pc-q35-7.2", QemuSpec.Accelerator.TCG, Path.of("/boot/vmlinuz"), null, null, disks,
        null, false, List.of(), List.of(), null, QemuSpec.Cpu.DEFAULT, true,
        QemuSpec.Lifecycle.DEFAULT, null, List.of(), List.of(),
        new QemuSpec.ScsiController(new QemuSpec.PciAddress("pci.0", 2, 0, false)));
    List<String> argv = QemuCommandLine.build(Path.of("qemu"), spec, RUN,
        QemuCommandLine.Incoming.NONE);

    List<String> devices = values(argv, "-device").stream().map(JsonObject::toString).toList();
    assertThat(devices).containsExactly(
        "{\"driver\":\"virtio-scsi-pci\",\"id\":\"scsi0\",\"bus\":\"pci.0\",\"addr\":\"0x2\"}",
        "{\"driver\":\"ide-cd\",\"bus\":\"ide.0\",\"drive\":\"cryo-sda-format\","
            + "\"id\":\"sata0-0-0\"}",
        "{\"driver\":\"ide-hd\",\"bus\":\"ide.1\",\"drive\":\"cryo-sdb-format\","
            + "\"id\":\"sata0-0-1\"}",
        "{\"driver\":\"ide-cd\",\"bus\":\"ide.2\",\"id\":\"sata0-0-2\"}",
        "{\"driver\":\"ide-hd\",\"bus\":\"ide.0\",\"unit\":0,\"drive\":\"cryo-hda-format\","
            + "\"id\":\"ide0-0-0\"}",
        "{\"driver\":\"ide-cd\",\"bus\":\"ide.0\",\"unit\":1,\"id\":\"ide0-0-1\"}",
        "{\"driver\":\"ide-cd\",\"bus\":\"ide.1\",\"unit\":0,\"drive\":\"cryo-hdc-format\","
            + "\"id\":\"ide0-1-0\"}",
        "{\"driver\":\"scsi-hd\",\"bus\":\"scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":0,"
            + "\"device_id\":\"drive-scsi0-0-0-0\",\"drive\":\"cryo-sdd-format\","
            + "\"id\":\"scsi0-0-0-0\"}",
        "{\"driver\":\"scsi-cd\",\"bus\":\"scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":1,"
            + "\"device_id\":\"drive-scsi0-0-0-1\",\"drive\":\"cryo-sde-format\","
            + "\"id\":\"scsi0-0-0-1\"}");
    List<JsonObject> blockdevs = values(argv, "-blockdev");
    assertThat(blockdevs).as("two nodes per disc, none for an empty tray").hasSize(12);
    assertThat(blockdevs.get(1).toString()).as("a cdrom's format node is read-only")
        .isEqualTo("{\"node-name\":\"cryo-sda-format\",\"read-only\":true,\"driver\":\"raw\","
            + "\"file\":\"cryo-sda-storage\"}");
  }

  private static List<JsonObject> values(List<String> argv, String option) {
    List<JsonObject> out = new java.util.ArrayList<>();
    for (int i = 0; i < argv.size() - 1; i++) {
      if (argv.get(i).equals(option) && argv.get(i + 1).startsWith("{")) {
        out.add(JsonParser.parseString(argv.get(i + 1)).getAsJsonObject());
      }
    }
    return out;
  }
}
