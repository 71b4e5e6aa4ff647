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
 * @param disks virtio-blk disks in guest order
 * @param usbController whether the machine gets its default USB controller
 * @param memballoon whether to add a virtio balloon device
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
    boolean usbController,
    boolean memballoon) {

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
  }

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
   */
  public record Disk(String target, Path source, DiskFormat format, boolean readOnly,
      boolean hostDevice, String cache, String io, String discard, boolean shareable,
      String serial) {
    public Disk {
      Objects.requireNonNull(target, "target");
      Objects.requireNonNull(source, "source");
      Objects.requireNonNull(format, "format");
    }

    /** A file-backed disk with QEMU's default cache, I/O and discard modes. */
    public Disk(String target, Path source, DiskFormat format, boolean readOnly) {
      this(target, source, format, readOnly, false, null, null, null, false, null);
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

    /** QOM id of the guest device. */
    public String deviceId() {
      return "virtio-" + target;
    }
  }
}
