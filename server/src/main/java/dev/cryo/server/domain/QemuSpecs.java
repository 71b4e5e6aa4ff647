package dev.cryo.server.domain;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.QemuSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Maps a validated {@link DomainDef} onto a {@link QemuSpec}: resolves the machine alias and the
 * accelerator, expands port forward ranges, and fills in the devices libvirt adds when the XML
 * does not mention them (a USB controller and a virtio balloon), so that Cryo and libvirt give
 * QEMU the same device set.
 */
final class QemuSpecs {
  private QemuSpecs() {}

  static QemuSpec from(DomainDef def, HostCapabilities host, AcceleratorPolicy policy) {
    String machine = host.resolveMachine(def.machine() == null ? "pc" : def.machine());
    String rootBus = PciAddresses.isQ35(machine) ? "pcie.0" : "pci.0";
    List<QemuSpec.Disk> disks = new ArrayList<>();
    for (DiskDef d : def.disks()) {
      boolean block = "block".equals(d.getType());
      boolean virtio = "virtio".equals(d.getTargetBus());
      DeviceAddress a = d.getAddress();
      disks.add(new QemuSpec.Disk(d.getTargetDev(),
          d.sourcePath() == null ? null : Path.of(d.sourcePath()),
          DiskDef.QCOW2.equals(d.getFormat()) ? QemuSpec.DiskFormat.QCOW2
              : QemuSpec.DiskFormat.RAW,
          d.isReadonly(), block, d.getCache(), d.getIo(), d.getDiscard(), d.isShareable(),
          d.getSerial(), virtio ? pci(a, rootBus) : null,
          virtio ? null : new QemuSpec.Drive(
              QemuSpec.DiskBus.valueOf(d.getTargetBus().toUpperCase(Locale.ROOT)), d.isCdrom(),
              a.controller(), a.bus(), a.target(), a.unit())));
    }
    OsDef os = def.getOs();
    DevicesDef devices = def.getDevices();
    DevicesDef.Memballoon balloon = devices.getMemballoon();
    List<QemuSpec.PciController> pciControllers = new ArrayList<>();
    QemuSpec.Usb usb = null;
    QemuSpec.ScsiController scsi = null;
    for (DevicesDef.Controller c : devices.getControllers()) {
      if ("scsi".equals(c.getType())) {
        scsi = new QemuSpec.ScsiController(pci(c.getAddress(), rootBus));
      }
      if ("pci".equals(c.getType()) && c.index() > 0) {
        boolean port = "pcie-root-port".equals(c.getModel());
        pciControllers.add(new QemuSpec.PciController(port ? "pcie-root-port" : "pcie-pci-bridge",
            c.index(), !port ? null : c.target == null || c.target.chassis == null ? c.index()
                : Integer.decode(c.target.chassis),
            !port || c.target == null || c.target.port == null ? null
                : Integer.decode(c.target.port),
            pci(c.getAddress(), rootBus)));
      } else if ("usb".equals(c.getType()) && usb == null && !"none".equals(c.getModel())) {
        usb = new QemuSpec.Usb("qemu-xhci".equals(c.getModel()) ? "qemu-xhci"
            : "piix3-usb-uhci", pci(c.getAddress(), rootBus));
      }
    }
    boolean noUsbController =
        devices.getControllers().stream().noneMatch(c -> "usb".equals(c.getType()));
    if (usb == null && noUsbController) {
      usb = new QemuSpec.Usb("piix3-usb-uhci", null); // libvirt's default: the machine's own
    }
    QemuSpec.Accelerator accelerator = accelerator(def, host, policy);
    return new QemuSpec(def.getName(), def.getUuid(), def.memoryKiB(), def.vcpus(), machine,
        accelerator,
        os == null || os.getKernel() == null ? null : Path.of(os.getKernel()),
        os == null || os.getInitrd() == null ? null : Path.of(os.getInitrd()),
        os == null ? null : os.getCmdline(),
        disks,
        usb,
        balloon == null || !"none".equals(balloon.getModel()),
        nics(devices.getInterfaces(), rootBus),
        pciControllers.stream().sorted(Comparator.comparingInt(QemuSpec.PciController::index))
            .toList(),
        balloon == null ? null : pci(balloon.getAddress(), rootBus),
        cpu(def, host, accelerator),
        def.getFeatures() == null || def.getFeatures().isAcpi(),
        lifecycle(def),
        video(devices, rootBus),
        devices.getRngs().stream().map(r -> new QemuSpec.Rng(Path.of(r.source()),
            pci(r.getAddress(), rootBus))).toList(),
        devices.getInputs().stream().filter(i -> "usb".equals(i.bus))
            .map(i -> Integer.parseInt(i.address.port)).toList(),
        scsi);
  }

  /** The first video card as QEMU's device; libvirt's vram is in KiB, QEMU's vgamem in MiB. */
  private static QemuSpec.Video video(DevicesDef devices, String rootBus) {
    for (DevicesDef.Video v : devices.getVideos()) {
      String device = switch (v.type()) {
        case "vga" -> "VGA";
        case "cirrus" -> "cirrus-vga";
        case "virtio" -> "virtio-vga";
        default -> null;
      };
      if (device != null) {
        Integer vgamem = v.model.vram == null ? null : Integer.parseInt(v.model.vram) / 1024;
        return new QemuSpec.Video(device, vgamem, pci(v.getAddress(), rootBus));
      }
    }
    return null;
  }

  /** libvirt's {@code <on_poweroff>} and {@code <on_reboot>}, as QEMU actions. */
  static QemuSpec.Lifecycle lifecycle(DomainDef def) {
    return new QemuSpec.Lifecycle("restart".equals(def.getOnPoweroff()),
        "destroy".equals(def.getOnReboot()));
  }

  /**
   * The CPU QEMU gets: {@code -cpu host} for libvirt's host modes (their argv under KVM), the
   * named model, or QEMU's default.
   *
   * @throws CryoException {@code CPU_MODE_NEEDS_KVM} for a host mode under TCG, {@code
   *     CPU_MODEL_UNKNOWN} for a model this QEMU lacks
   */
  static QemuSpec.Cpu cpu(DomainDef def, HostCapabilities host,
      QemuSpec.Accelerator accelerator) {
    CpuDef cpu = def.getCpu();
    if (cpu == null) {
      return QemuSpec.Cpu.DEFAULT;
    }
    CpuDef.Topology t = cpu.topology();
    QemuSpec.Topology topology = t == null ? null
        : new QemuSpec.Topology(t.sockets(), t.dies(), t.cores(), t.threads());
    if (cpu.isHostCpu()) {
      if (accelerator != QemuSpec.Accelerator.KVM) {
        String why = "qemu".equals(def.getType()) ? "the domain's type is 'qemu' (TCG)"
            : "KVM is not used here (" + (host.kvmUnusableReason() != null
                ? host.kvmUnusableReason() : "the server runs with --accel tcg") + ")";
        throw new CryoException(Reason.CPU_MODE_NEEDS_KVM, "domain '" + def.getName()
            + "' asks for <cpu mode='" + cpu.getMode() + "'>, the host's own CPU, which only KVM "
            + "can give a guest, but " + why + " and QEMU's TCG emulates named models only; use "
            + "<cpu mode='custom'><model>NAME</model></cpu> (e.g. qemu64 or max) or run it on a "
            + "host with KVM")
            .with("domain", def.getName()).with("mode", cpu.getMode());
      }
      return new QemuSpec.Cpu(QemuSpec.Cpu.HOST, topology);
    }
    checkCpuModel(def, host);
    return new QemuSpec.Cpu(cpu.getModel(), topology);
  }

  /**
   * Checks that the named CPU model, if any, is one of this host's QEMU models.
   *
   * @throws CryoException {@code CPU_MODEL_UNKNOWN} naming the model and a few known ones
   */
  static void checkCpuModel(DomainDef def, HostCapabilities host) {
    String model = def.getCpu() == null ? null : def.getCpu().getModel();
    if (model == null || def.getCpu().isHostCpu() || host.cpuModels().contains(model)) {
      return;
    }
    List<String> known = host.cpuModels();
    List<String> some = new ArrayList<>();
    for (String name : List.of("qemu64", "max", "Westmere", "Skylake-Client", "EPYC")) {
      if (known.contains(name)) {
        some.add(name);
      }
    }
    throw new CryoException(Reason.CPU_MODEL_UNKNOWN, "domain '" + def.getName()
        + "': <cpu><model>" + model + "</model> is not a CPU model this host's QEMU knows; use "
        + "one of its " + known.size() + " models" + (some.isEmpty() ? "" : ", e.g. "
            + String.join(", ", some)) + " (" + host.qemuBinary().getFileName()
        + " -cpu help lists them)")
        .with("domain", def.getName()).with("model", model);
  }

  /** The QEMU side of a validated PCI address: bus 0 is the root bus, bus N root port N. */
  private static QemuSpec.PciAddress pci(DeviceAddress a, String rootBus) {
    if (a == null) {
      return null;
    }
    return new QemuSpec.PciAddress(a.bus() == 0 ? rootBus : "pci." + a.bus(), a.slot(),
        a.function(), a.multifunction());
  }

  private static List<QemuSpec.Nic> nics(List<InterfaceDef> interfaces, String rootBus) {
    List<QemuSpec.Nic> nics = new ArrayList<>();
    for (InterfaceDef nic : interfaces) {
      List<QemuSpec.HostForward> forwards = new ArrayList<>();
      for (InterfaceDef.PortForward f : nic.portForwards) {
        for (InterfaceDef.Range r : f.ranges) {
          int start = Integer.parseInt(r.start);
          int end = r.end == null ? start : Integer.parseInt(r.end);
          int to = r.to == null ? start : Integer.parseInt(r.to);
          for (int port = start; port <= end; port++) {
            forwards.add(new QemuSpec.HostForward("udp".equals(f.proto), f.address, port,
                to + port - start));
          }
        }
      }
      String network = nic.ips.isEmpty() ? null
          : nic.ips.get(0).address + "/" + nic.ips.get(0).prefix;
      nics.add(new QemuSpec.Nic(nics.size(), nic.getMac(),
          QemuSpec.NicModel.valueOf(nic.getModel().toUpperCase(Locale.ROOT)), network, forwards,
          nic.isLinkUp(), pci(nic.getAddress(), rootBus)));
    }
    return nics;
  }

  /**
   * {@code type='qemu'} is TCG, as in libvirt. {@code type='kvm'} follows the server's policy:
   * where libvirt would refuse to start without KVM, Cryo's default ({@code auto}) falls back to
   * TCG, so one XML runs on any host; {@code --accel kvm} restores libvirt's strictness.
   */
  static QemuSpec.Accelerator accelerator(DomainDef def, HostCapabilities host,
      AcceleratorPolicy policy) {
    if ("qemu".equals(def.getType()) || policy == AcceleratorPolicy.TCG) {
      return QemuSpec.Accelerator.TCG;
    }
    if (host.kvmUsable()) {
      return QemuSpec.Accelerator.KVM;
    }
    if (policy == AcceleratorPolicy.KVM) {
      throw new FailedPreconditionException("domain '" + def.getName() + "' needs KVM, but "
          + host.kvmUnusableReason() + "; run the server with --accel auto or tcg");
    }
    return QemuSpec.Accelerator.TCG;
  }
}
