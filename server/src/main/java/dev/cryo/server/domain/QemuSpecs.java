package dev.cryo.server.domain;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import dev.cryo.server.error.FailedPreconditionException;
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
    return new QemuSpec(def.getName(), def.getUuid(), def.memoryKiB(), def.vcpus(), machine,
        accelerator(def, host, policy),
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
        scsi);
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
