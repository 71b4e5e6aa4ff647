package dev.cryo.server.domain;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.QemuSpec;
import java.nio.file.Path;
import java.util.ArrayList;
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
    List<QemuSpec.Disk> disks = new ArrayList<>();
    for (DiskDef d : def.disks()) {
      boolean block = "block".equals(d.getType());
      disks.add(new QemuSpec.Disk(d.getTargetDev(),
          Path.of(d.sourcePath()),
          DiskDef.QCOW2.equals(d.getFormat()) ? QemuSpec.DiskFormat.QCOW2
              : QemuSpec.DiskFormat.RAW,
          d.isReadonly(), block, d.getCache(), d.getIo(), d.getDiscard(), d.isShareable(),
          d.getSerial()));
    }
    OsDef os = def.getOs();
    DevicesDef devices = def.getDevices();
    String usbModel = devices == null ? null : devices.usbControllerModel();
    String balloon = devices == null || devices.getMemballoon() == null ? null
        : devices.getMemballoon().getModel();
    QemuSpec.Accelerator accelerator = accelerator(def, host, policy);
    return new QemuSpec(def.getName(), def.getUuid(), def.memoryKiB(), def.vcpus(), machine,
        accelerator,
        os == null || os.getKernel() == null ? null : Path.of(os.getKernel()),
        os == null || os.getInitrd() == null ? null : Path.of(os.getInitrd()),
        os == null ? null : os.getCmdline(),
        disks,
        !"none".equals(usbModel),
        !"none".equals(balloon),
        nics(devices == null ? List.of() : devices.getInterfaces()),
        cpu(def, host, accelerator),
        def.getFeatures() == null || def.getFeatures().isAcpi());
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

  private static List<QemuSpec.Nic> nics(List<InterfaceDef> interfaces) {
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
          nic.isLinkUp()));
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
