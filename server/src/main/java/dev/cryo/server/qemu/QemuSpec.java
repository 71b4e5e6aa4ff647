package dev.cryo.server.qemu;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Everything needed to build a QEMU command line for one guest, already validated and resolved
 * (machine aliases, accelerator). The {@code qemu} package knows nothing of domain XML: callers map
 * their definition onto this record.
 *
 * @param name guest name, shown by QEMU in {@code -name}
 * @param uuid RFC 4122 UUID
 * @param memoryKib guest RAM in KiB
 * @param vcpus number of virtual CPUs
 * @param machine a concrete, versioned machine type (e.g. {@code pc-i440fx-7.2})
 * @param accelerator how the CPUs run
 * @param kernel direct-boot kernel, or null to boot from disk
 * @param initrd direct-boot initrd, or null
 * @param cmdline kernel command line, or null
 * @param disks disks and cdroms in guest order
 * @param usb the USB controller, or null for none
 * @param memballoon whether to add a virtio balloon device
 * @param nics network cards in guest order
 * @param pciControllers PCIe root ports and bridges (q35), parents first
 * @param balloonAddress where the balloon sits, or null for QEMU's choice
 * @param cpu the CPU model and topology
 * @param acpi whether the machine has ACPI (QEMU's default); off gives {@code acpi=off}
 * @param lifecycle what QEMU does when the guest powers off or reboots
 * @param video the video card, or null for none
 * @param rngs virtio entropy sources
 * @param tablets the USB ports of USB tablets
 * @param scsi the virtio-scsi controller ({@code scsi0}) of the SCSI disks, or null for none
 */
public record QemuSpec(
    String name,
    String uuid,
    long memoryKib,
    int vcpus,
    String machine,
    Accelerator accelerator,
    Path kernel,
    Path initrd,
    String cmdline,
    List<Disk> disks,
    Usb usb,
    boolean memballoon,
    List<Nic> nics,
    List<PciController> pciControllers,
    PciAddress balloonAddress,
    Cpu cpu,
    boolean acpi,
    Lifecycle lifecycle,
    Video video,
    List<Rng> rngs,
    List<Integer> tablets,
    ScsiController scsi) {

  public QemuSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(uuid, "uuid");
    Objects.requireNonNull(machine, "machine");
    Objects.requireNonNull(accelerator, "accelerator");
    if (memoryKib <= 0) {
      throw new IllegalArgumentException("memoryKib must be positive: " + memoryKib);
    }
    if (vcpus <= 0) {
      throw new IllegalArgumentException("vcpus must be positive: " + vcpus);
    }
    disks = List.copyOf(disks);
    nics = List.copyOf(nics);
    pciControllers = List.copyOf(pciControllers);
    Objects.requireNonNull(cpu, "cpu");
    Objects.requireNonNull(lifecycle, "lifecycle");
    rngs = List.copyOf(rngs);
    tablets = List.copyOf(tablets);
    if (cpu.topology() != null && cpu.topology().cpus() != vcpus) {
      throw new IllegalArgumentException("topology " + cpu.topology() + " is not " + vcpus
          + " vcpus");
    }
  }

  /**
   * The guest CPU.
   *
   * @param model what {@code -cpu} gets: a QEMU model name, {@link #HOST} for the host's CPU
   *     (KVM only), or null for QEMU's default model
   * @param topology how the vCPUs are laid out, or null for one socket per vCPU (libvirt's
   *     default)
   */
  public record Cpu(String model, Topology topology) {
    /** QEMU's {@code -cpu host}: the host's CPU, as libvirt's host-model and host-passthrough. */
    public static final String HOST = "host";

    /** QEMU's default model, one socket per vCPU. */
    public static final Cpu DEFAULT = new Cpu(null, null);
  }

  /** A vCPU topology ({@code -smp}): sockets x dies x cores x threads vCPUs. */
  public record Topology(int sockets, int dies, int cores, int threads) {
    public Topology {
      if (sockets < 1 || dies < 1 || cores < 1 || threads < 1) {
        throw new IllegalArgumentException("topology counts must be positive: " + sockets + "/"
            + dies + "/" + cores + "/" + threads);
      }
    }

    /** The number of vCPUs. */
    public long cpus() {
      return (long) sockets * dies * cores * threads;
    }
  }

  /**
   * QEMU's own reactions to the guest ({@code -action}), which the server completes: QEMU exits
   * when the guest powers off, and resets it when it reboots, unless told otherwise here.
   *
   * @param pauseOnPoweroff stop instead of exiting when the guest powers off, so the server can
   *     reset it in place (libvirt's {@code on_poweroff restart})
   * @param poweroffOnReboot treat a guest reboot as a power-off (libvirt's {@code on_reboot
   *     destroy}): the guest never runs its reboot
   */
  public record Lifecycle(boolean pauseOnPoweroff, boolean poweroffOnReboot) {
    /** QEMU's defaults: exit on power-off, reset on reboot (libvirt's defaults). */
    public static final Lifecycle DEFAULT = new Lifecycle(false, false);
  }

  /**
   * A video card.
   *
   * @param qemuDevice {@code VGA}, {@code cirrus-vga} or {@code virtio-vga}
   * @param vgamemMb its video memory, or null for the device's default
   */
  public record Video(String qemuDevice, Integer vgamemMb, PciAddress address) {
    public Video {
      Objects.requireNonNull(qemuDevice, "qemuDevice");
    }
  }

  /** A virtio entropy source reading {@code source}, a host random device. */
  public record Rng(Path source, PciAddress address) {
    public Rng {
      Objects.requireNonNull(source, "source");
    }
  }

  /** This spec with the direct-boot kernel and initrd at other paths. */
  public QemuSpec withBootFiles(Path kernel, Path initrd) {
    return new QemuSpec(name, uuid, memoryKib, vcpus, machine, accelerator, kernel, initrd,
        cmdline, disks, usb, memballoon, nics, pciControllers, balloonAddress, cpu, acpi,
        lifecycle, video, rngs, tablets, scsi);
  }

  /**
   * The virtio-scsi controller, {@code -device virtio-scsi-pci} with id {@code scsi0}.
   *
   * @param address where it sits, or null for QEMU's choice
   */
  public record ScsiController(PciAddress address) {}

  /**
   * Where a PCI device sits. A definition written before Cryo assigned addresses has none: QEMU
   * then places its devices in command-line order, as it did when the guest was saved.
   *
   * @param bus the QOM id of the bus: {@code pci.0} (i440fx), {@code pcie.0} (q35) or a root
   *     port's {@code pci.N}
   */
  public record PciAddress(String bus, int slot, int function, boolean multifunction) {
    public PciAddress {
      Objects.requireNonNull(bus, "bus");
    }

    /** QEMU's {@code addr}: {@code 0x4}, or {@code 0x1.0x2} for a function other than 0. */
    public String addr() {
      return "0x" + Integer.toHexString(slot)
          + (function == 0 ? "" : ".0x" + Integer.toHexString(function));
    }
  }

  /**
   * A PCI controller that provides the bus {@code pci.INDEX}: a {@code pcie-root-port} (one slot,
   * for one device) or a {@code pcie-pci-bridge} (slots 1 to 31, for conventional PCI cards).
   *
   * @param chassis a root port's chassis number, or null for a bridge
   * @param port a root port's PCIe port number, or null for a bridge
   * @param address where it sits, or null for QEMU's choice
   */
  public record PciController(String qemuDevice, int index, Integer chassis, Integer port,
      PciAddress address) {
    public PciController {
      Objects.requireNonNull(qemuDevice, "qemuDevice");
    }

    /** The QOM id of the bus it provides. */
    public String id() {
      return "pci." + index;
    }
  }

  /**
   * The USB controller.
   *
   * @param qemuDevice {@code piix3-usb-uhci} or {@code qemu-xhci}
   * @param address where it sits, or null for the machine's own controller ({@code usb=on})
   */
  public record Usb(String qemuDevice, PciAddress address) {}

  /** The accelerators QEMU can run a guest with. */
  public enum Accelerator {
    KVM("kvm"),
    TCG("tcg");

    private final String qemuName;

    Accelerator(String qemuName) {
      this.qemuName = qemuName;
    }

    /** The name QEMU's {@code -accel} option takes. */
    public String qemuName() {
      return qemuName;
    }
  }

  /** Disk image formats QEMU opens. */
  public enum DiskFormat {
    RAW("raw"),
    QCOW2("qcow2");

    private final String qemuName;

    DiskFormat(String qemuName) {
      this.qemuName = qemuName;
    }

    public String qemuName() {
      return qemuName;
    }
  }

  /**
   * One disk. Its block nodes are named after the target so QMP commands can address them the same
   * way across restarts: {@link #formatNode()} is what the guest device uses.
   *
   * @param source the image, or null for a cdrom with an empty tray
   * @param address where a virtio disk sits, or null (QEMU's choice, or a disk on a controller)
   * @param drive where a disk on an IDE, SATA or SCSI controller sits, or null for virtio-blk
   */
  public record Disk(String target, Path source, DiskFormat format, boolean readOnly,
      boolean hostDevice, String cache, String io, String discard, boolean shareable,
      String serial, PciAddress address, Drive drive) {
    public Disk {
      Objects.requireNonNull(target, "target");
      Objects.requireNonNull(format, "format");
      if (source == null && (drive == null || !drive.cdrom())) {
        throw new IllegalArgumentException("only a cdrom may have no source: " + target);
      }
    }

    /** A file-backed virtio disk with QEMU's default cache, I/O and discard modes. */
    public Disk(String target, Path source, DiskFormat format, boolean readOnly) {
      this(target, source, format, readOnly, false, null, null, null, false, null, null, null);
    }

    /** Whether the drive has a medium (every disk but a cdrom with an empty tray). */
    public boolean hasMedium() {
      return source != null;
    }

    /** Whether the host page cache is bypassed (libvirt's {@code cache.direct}). */
    boolean cacheDirect() {
      return "none".equals(cache) || "directsync".equals(cache);
    }

    /** Whether the guest's flushes are ignored (libvirt's {@code cache.no-flush}). */
    boolean cacheNoFlush() {
      return "unsafe".equals(cache);
    }

    /** The device's {@code write-cache}: off for writethrough and directsync, as in libvirt. */
    boolean writeCache() {
      return !"writethrough".equals(cache) && !"directsync".equals(cache);
    }

    /** Node name of the protocol (file) layer. */
    public String storageNode() {
      return "cryo-" + target + "-storage";
    }

    /** Node name of the format layer, the one attached to the guest device. */
    public String formatNode() {
      return "cryo-" + target + "-format";
    }

    /**
     * QOM id of the guest device: {@code virtio-vda}; on a controller libvirt's {@code
     * sata0-0-1}, {@code ide0-1-0}, {@code scsi0-0-0-1} (controller, bus, [target,] unit).
     */
    public String deviceId() {
      if (drive == null) {
        return "virtio-" + target;
      }
      return switch (drive.bus()) {
        case SCSI -> "scsi" + drive.controller() + "-" + drive.busNumber() + "-"
            + drive.target() + "-" + drive.unit();
        case SATA, IDE -> drive.bus().name().toLowerCase(java.util.Locale.ROOT)
            + drive.controller() + "-" + drive.busNumber() + "-" + drive.unit();
      };
    }
  }

  /** The controller buses a disk can sit on besides virtio-blk's own PCI function. */
  public enum DiskBus {
    /** The PIIX3's IDE controller on i440fx: buses {@code ide.0} and {@code ide.1}. */
    IDE,
    /** The ICH9's AHCI on q35: one bus per port, {@code ide.0} to {@code ide.5}. */
    SATA,
    /** A virtio-scsi controller: bus {@code scsiN.0}. */
    SCSI
  }

  /**
   * Where a disk sits on an IDE, SATA or SCSI controller, libvirt's {@code <address
   * type='drive'/>}.
   *
   * @param cdrom a cdrom drive ({@code ide-cd}, {@code scsi-cd}) rather than a hard disk
   * @param busNumber IDE channel (0 primary, 1 secondary); 0 on SATA; SCSI channel
   * @param target SCSI id; 0 on IDE and SATA
   * @param unit IDE master (0) or slave (1), SATA port, SCSI LUN
   */
  public record Drive(DiskBus bus, boolean cdrom, int controller, int busNumber, int target,
      int unit) {
    public Drive {
      Objects.requireNonNull(bus, "bus");
    }
  }

  /** Network card models, by the QEMU device that emulates them. */
  public enum NicModel {
    VIRTIO("virtio-net-pci"),
    E1000E("e1000e"),
    E1000("e1000"),
    RTL8139("rtl8139");

    private final String qemuDevice;

    NicModel(String qemuDevice) {
      this.qemuDevice = qemuDevice;
    }

    /** The {@code -device} driver name. */
    public String qemuDevice() {
      return qemuDevice;
    }
  }

  /**
   * One network card on QEMU's user-mode network. Its QOM ids follow libvirt's ({@code net0},
   * {@code hostnet0}) so that QMP commands such as {@code set_link} address it the same way.
   *
   * @param index position among the guest's cards, from 0
   * @param mac the card's MAC address
   * @param model what the guest sees
   * @param network the IPv4 network QEMU serves, e.g. {@code 10.0.3.0/24}, or null for QEMU's
   *     default 10.0.2.0/24
   * @param forwards host ports that reach the guest
   * @param linkUp whether the link starts up
   * @param address where the card sits, or null for QEMU's choice
   */
  public record Nic(
      int index,
      String mac,
      NicModel model,
      String network,
      List<HostForward> forwards,
      boolean linkUp,
      PciAddress address) {
    public Nic {
      Objects.requireNonNull(mac, "mac");
      Objects.requireNonNull(model, "model");
      forwards = List.copyOf(forwards);
    }

    /** QOM id of the guest device. */
    public String deviceId() {
      return "net" + index;
    }

    /** Id of the host side ({@code -netdev}). */
    public String netdevId() {
      return "hostnet" + index;
    }
  }

  /**
   * A host port that reaches a guest port.
   *
   * @param udp UDP rather than TCP
   * @param hostAddress the host address to listen on, or null for all
   */
  public record HostForward(boolean udp, String hostAddress, int hostPort, int guestPort) {
    /** In QEMU's {@code hostfwd} syntax, e.g. {@code tcp:127.0.0.1:8080-:80}. */
    public String hostfwd() {
      return (udp ? "udp" : "tcp")
          + ":"
          + (hostAddress == null ? "" : hostAddress)
          + ":"
          + hostPort
          + "-:"
          + guestPort;
    }
  }
}
