package dev.cryo.server.qemu;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds QEMU's argv from a {@link QemuSpec}. An argv list, never a shell string: each value is
 * one argument, and values inside QEMU's own option syntax are escaped ({@link #escape}) or passed
 * as JSON, so a path with a comma or a quote cannot inject an option.
 *
 * <p>The shape follows what libvirt 9 builds for the same XML ({@code virsh domxml-to-native}),
 * so that migration streams carry the same devices: {@code -S} so the server sees every event
 * before the CPUs start, {@code -nodefaults}, {@code -blockdev} with stable node names, an
 * {@code isa-serial} console on a socket with a log file. And, as libvirt does, a seccomp
 * filter ({@code -sandbox}) and no monitor but QMP.
 */
public final class QemuCommandLine {
  private QemuCommandLine() {}

  /** What the QEMU process should do at start besides booting. */
  public enum Incoming {
    /** Boot normally. */
    NONE,
    /** Wait for a migration stream on stdin ({@code -incoming fd:0}). */
    STDIN,
    /** Wait for {@code migrate-incoming} over QMP ({@code -incoming defer}). */
    DEFER
  }

  /** Builds the argv; the first element is {@code qemuBinary}. */
  public static List<String> build(Path qemuBinary, QemuSpec spec, RunDir run, Incoming incoming) {
    List<String> argv = new ArrayList<>();
    argv.add(qemuBinary.toString());
    add(argv, "-name", "guest=" + escape(spec.name()) + ",debug-threads=on");
    argv.add("-S");
    add(argv, "-uuid", spec.uuid());
    // Without ACPI: libvirt 9.0 writes the older -no-acpi, deprecated since QEMU 8; the machine
    // property means the same to QEMU 7.2 and later, and is what newer libvirt writes.
    boolean machineUsb = spec.usb() != null && spec.usb().address() == null;
    add(argv, "-machine", spec.machine() + (machineUsb ? "" : ",usb=off")
        + ",dump-guest-core=off" + (spec.acpi() ? "" : ",acpi=off"));
    add(argv, "-accel", spec.accelerator().qemuName());
    if (spec.cpu().model() != null) {
      add(argv, "-cpu", spec.cpu().model());
    }
    add(argv, "-m", "size=" + spec.memoryKib() + "k");
    QemuSpec.Topology t = spec.cpu().topology();
    // libvirt's -smp: dies only when the XML gives a topology
    add(argv, "-smp", spec.vcpus() + (t == null ? ",sockets=" + spec.vcpus() + ",cores=1,threads=1"
        : ",sockets=" + t.sockets() + ",dies=" + t.dies() + ",cores=" + t.cores() + ",threads="
            + t.threads()));
    argv.add("-no-user-config");
    argv.add("-nodefaults");
    add(argv, "-display", "none");
    // libvirt's seccomp policy: no obsolete syscalls, no set*id, no fork/exec, no priority or
    // affinity changes. QEMU's only monitor is the QMP socket below (-nodefaults drops the rest).
    add(argv, "-sandbox", QemuConfinement.SANDBOX);
    add(argv, "-pidfile", run.pidFile().toString());
    add(argv, "-qmp", "unix:" + escape(run.qmpSocket().toString()) + ",server=on,wait=off");
    if (spec.kernel() != null) {
      add(argv, "-kernel", spec.kernel().toString());
      if (spec.initrd() != null) {
        add(argv, "-initrd", spec.initrd().toString());
      }
      if (spec.cmdline() != null && !spec.cmdline().isEmpty()) {
        add(argv, "-append", spec.cmdline());
      }
    }
    for (QemuSpec.PciController controller : spec.pciControllers()) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", controller.qemuDevice());
      if (controller.port() != null) {
        device.addProperty("port", controller.port());
      }
      if (controller.chassis() != null) {
        device.addProperty("chassis", controller.chassis());
      }
      device.addProperty("id", controller.id());
      addAddress(device, controller.address());
      add(argv, "-device", device.toString());
    }
    if (spec.usb() != null && spec.usb().address() != null) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", spec.usb().qemuDevice());
      device.addProperty("id", "usb");
      addAddress(device, spec.usb().address());
      add(argv, "-device", device.toString());
    }
    if (spec.scsi() != null) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", "virtio-scsi-pci");
      device.addProperty("id", "scsi0");
      addAddress(device, spec.scsi().address());
      add(argv, "-device", device.toString());
    }
    for (int i = 0; i < spec.disks().size(); i++) {
      QemuSpec.Disk disk = spec.disks().get(i);
      if (disk.hasMedium()) {
        addBlockdevs(argv, disk);
      }
      JsonObject device = new JsonObject();
      if (disk.drive() == null) {
        device.addProperty("driver", "virtio-blk-pci");
        addAddress(device, disk.address());
      } else {
        addDrive(device, disk.drive());
      }
      if (disk.shareable()) {
        device.addProperty("share-rw", true);
      }
      if (disk.hasMedium()) {
        device.addProperty("drive", disk.formatNode());
      }
      device.addProperty("id", disk.deviceId());
      if (i == 0 && spec.kernel() == null) {
        device.addProperty("bootindex", 1);
      }
      if (disk.cache() != null) {
        device.addProperty("write-cache", disk.writeCache() ? "on" : "off");
      }
      if (disk.serial() != null) {
        device.addProperty("serial", disk.serial());
      }
      add(argv, "-device", device.toString());
    }
    for (QemuSpec.Nic nic : spec.nics()) {
      JsonObject netdev = new JsonObject();
      netdev.addProperty("type", "user");
      netdev.addProperty("id", nic.netdevId());
      if (nic.network() != null) {
        netdev.addProperty("net", nic.network());
      }
      if (!nic.forwards().isEmpty()) {
        JsonArray forwards = new JsonArray();
        for (QemuSpec.HostForward forward : nic.forwards()) {
          JsonObject str = new JsonObject();
          str.addProperty("str", forward.hostfwd());
          forwards.add(str);
        }
        netdev.add("hostfwd", forwards);
      }
      add(argv, "-netdev", netdev.toString());
      JsonObject device = new JsonObject();
      device.addProperty("driver", nic.model().qemuDevice());
      device.addProperty("netdev", nic.netdevId());
      device.addProperty("id", nic.deviceId());
      device.addProperty("mac", nic.mac());
      addAddress(device, nic.address());
      add(argv, "-device", device.toString());
    }
    add(argv, "-chardev", "socket,id=charserial0,path=" + escape(run.consoleSocket().toString())
        + ",server=on,wait=off,logfile=" + escape(run.serialLog().toString()) + ",logappend=on");
    add(argv, "-device", "isa-serial,chardev=charserial0,id=serial0");
    if (spec.memballoon()) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", "virtio-balloon-pci");
      device.addProperty("id", "balloon0");
      addAddress(device, spec.balloonAddress());
      add(argv, "-device", device.toString());
    }
    for (int i = 0; i < spec.tablets().size(); i++) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", "usb-tablet");
      device.addProperty("id", "input" + i);
      device.addProperty("bus", "usb.0");
      device.addProperty("port", Integer.toString(spec.tablets().get(i)));
      add(argv, "-device", device.toString());
    }
    if (spec.video() != null) {
      JsonObject device = new JsonObject();
      device.addProperty("driver", spec.video().qemuDevice());
      device.addProperty("id", "video0");
      if (spec.video().vgamemMb() != null) {
        device.addProperty("vgamem_mb", spec.video().vgamemMb());
      }
      addAddress(device, spec.video().address());
      add(argv, "-device", device.toString());
    }
    for (int i = 0; i < spec.rngs().size(); i++) {
      QemuSpec.Rng rng = spec.rngs().get(i);
      JsonObject backend = new JsonObject();
      backend.addProperty("qom-type", "rng-random");
      backend.addProperty("id", "objrng" + i);
      backend.addProperty("filename", rng.source().toString());
      add(argv, "-object", backend.toString());
      JsonObject device = new JsonObject();
      device.addProperty("driver", "virtio-rng-pci");
      device.addProperty("rng", "objrng" + i);
      device.addProperty("id", "rng" + i);
      addAddress(device, rng.address());
      add(argv, "-device", device.toString());
    }
    if (spec.lifecycle().pauseOnPoweroff()) {
      add(argv, "-action", "shutdown=pause");
    }
    if (spec.lifecycle().poweroffOnReboot()) {
      add(argv, "-action", "reboot=shutdown");
    }
    switch (incoming) {
      case STDIN -> add(argv, "-incoming", "fd:0");
      case DEFER -> add(argv, "-incoming", "defer");
      case NONE -> { }
    }
    add(argv, "-msg", "timestamp=on");
    return argv;
  }

  /** The file and format nodes of a disk's medium, as libvirt 9 writes them. */
  private static void addBlockdevs(List<String> argv, QemuSpec.Disk disk) {
    JsonObject storage = new JsonObject();
  // The blockdev and device properties libvirt 9 writes for the same <disk>
    storage.addProperty("driver", disk.hostDevice() ? "host_device" : "file");
    storage.addProperty("filename", disk.source().toString());
    storage.addProperty("node-name", disk.storageNode());
    if (disk.io() != null) {
      storage.addProperty("aio", disk.io());
    }
    addCache(storage, disk);
    storage.addProperty("auto-read-only", true);
    storage.addProperty("discard", "unmap");
    add(argv, "-blockdev", storage.toString());
    JsonObject format = new JsonObject();
    format.addProperty("node-name", disk.formatNode());
    format.addProperty("read-only", disk.readOnly());
    if (disk.discard() != null) {
      format.addProperty("discard", disk.discard());
    }
    addCache(format, disk);
    format.addProperty("driver", disk.format().qemuName());
    format.addProperty("file", disk.storageNode());
    add(argv, "-blockdev", format.toString());
  }

  /**
   * libvirt's device for a disk on a controller: {@code ide-hd}/{@code ide-cd} on an IDE channel
   * ({@code bus} and {@code unit}) or on a SATA port (one bus per port), {@code scsi-hd}/{@code
   * scsi-cd} with channel, SCSI id and LUN.
   */
  private static void addDrive(JsonObject device, QemuSpec.Drive drive) {
    switch (drive.bus()) {
      case IDE -> {
        device.addProperty("driver", drive.cdrom() ? "ide-cd" : "ide-hd");
        device.addProperty("bus", "ide." + drive.busNumber());
        device.addProperty("unit", drive.unit());
      }
      case SATA -> {
        device.addProperty("driver", drive.cdrom() ? "ide-cd" : "ide-hd");
        device.addProperty("bus", "ide." + drive.unit());
      }
      case SCSI -> {
        device.addProperty("driver", drive.cdrom() ? "scsi-cd" : "scsi-hd");
        device.addProperty("bus", "scsi" + drive.controller() + ".0");
        device.addProperty("channel", drive.busNumber());
        device.addProperty("scsi-id", drive.target());
        device.addProperty("lun", drive.unit());
        device.addProperty("device_id", "drive-scsi" + drive.controller() + "-"
            + drive.busNumber() + "-" + drive.target() + "-" + drive.unit());
      }
    }
  }

  /** libvirt's {@code "bus":..,"addr":..}; nothing for a device without an address. */
  private static void addAddress(JsonObject device, QemuSpec.PciAddress address) {
    if (address == null) {
      return;
    }
    device.addProperty("bus", address.bus());
    if (address.multifunction()) {
      device.addProperty("multifunction", true);
    }
    device.addProperty("addr", address.addr());
  }

  /** libvirt's {@code "cache":{"direct":..,"no-flush":..}}, present only with a cache mode. */
  private static void addCache(JsonObject node, QemuSpec.Disk disk) {
    if (disk.cache() == null) {
      return;
    }
    JsonObject cache = new JsonObject();
    cache.addProperty("direct", disk.cacheDirect());
    cache.addProperty("no-flush", disk.cacheNoFlush());
    node.add("cache", cache);
  }

  /** Escapes a value for QEMU's comma-separated option syntax: a comma is written twice. */
  static String escape(String value) {
    return value.replace(",", ",,");
  }

  private static void add(List<String> argv, String option, String value) {
    argv.add(option);
    argv.add(value);
  }
}
