package dev.cryo.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A domain definition without XML. Maps one to one onto the libvirt XML subset Cryo supports.
 *
 * <p>Build one with {@link #builder(String)}.
 *
 * @param name unique name on the server
 * @param uuid null or empty: the server generates one
 * @param memoryBytes guest RAM in bytes
 * @param machine QEMU machine type, e.g. "pc" or "q35"; null: "pc"
 * @param vcpus number of virtual CPUs
 * @param accelerator how the CPUs run; {@link Accelerator#AUTO}: KVM when it works, else TCG
 * @param kernel direct-boot kernel path on the server, or null
 * @param initrd direct-boot initramfs path on the server, or null
 * @param cmdline kernel command line, or null
 * @param disks virtio-blk disks, in order
 * @param metadataXml free-form {@code <metadata>} content, kept verbatim, or null
 * @param description free text, or null
 */
public record DomainConfig(
    String name,
    String uuid,
    long memoryBytes,
    int vcpus,
    String machine,
    Accelerator accelerator,
    String kernel,
    String initrd,
    String cmdline,
    List<Disk> disks,
    String metadataXml,
    String description) {

  /** Checks the name and copies {@code disks}. */
  public DomainConfig {
    Objects.requireNonNull(name, "name");
    disks = List.copyOf(disks);
  }

  /** Disk image formats. */
  public enum DiskFormat {
    /** A plain image file or block device. */
    RAW,
    /** QEMU's copy-on-write format. */
    QCOW2
  }

  /**
   * A virtio-blk disk.
   *
   * @param target guest device name, e.g. "vda"
   * @param source absolute path of the image on the server
   * @param format the image's format
   * @param readOnly attach read-only
   */
  public record Disk(String target, String source, DiskFormat format, boolean readOnly) {
    /** Checks that nothing is null. */
    public Disk {
      Objects.requireNonNull(target, "target");
      Objects.requireNonNull(source, "source");
      Objects.requireNonNull(format, "format");
    }
  }

  /**
   * Starts a config with 128 MiB, 1 vCPU and the best accelerator.
   *
   * @throws IllegalArgumentException if {@code name} is null or empty
   */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** Builds a {@link DomainConfig}; checks values as they are set. */
  public static final class Builder {
    private final String name;
    private String uuid;
    private long memoryBytes = 128L << 20;
    private int vcpus = 1;
    private String machine;
    private Accelerator accelerator = Accelerator.AUTO;
    private String kernel;
    private String initrd;
    private String cmdline;
    private final List<Disk> disks = new ArrayList<>();
    private String metadataXml;
    private String description;

    private Builder(String name) {
      if (name == null || name.isEmpty()) {
        throw new IllegalArgumentException("name must not be empty");
      }
      this.name = name;
    }

    /** The UUID; unset: the server generates one. */
    public Builder uuid(String uuid) {
      this.uuid = uuid;
      return this;
    }

    /** Guest RAM in MiB (default 128). */
    public Builder memoryMib(long mib) {
      if (mib <= 0) {
        throw new IllegalArgumentException("memory must be positive, got " + mib + " MiB");
      }
      this.memoryBytes = mib << 20;
      return this;
    }

    /**
     * Number of virtual CPUs (default 1).
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder vcpus(int vcpus) {
      if (vcpus <= 0) {
        throw new IllegalArgumentException("vcpus must be positive, got " + vcpus);
      }
      this.vcpus = vcpus;
      return this;
    }

    /** QEMU machine type, e.g. "pc" (default) or "q35". */
    public Builder machine(String machine) {
      this.machine = machine;
      return this;
    }

    /** How the CPUs run (default {@link Accelerator#AUTO}). */
    public Builder accelerator(Accelerator accelerator) {
      this.accelerator = Objects.requireNonNull(accelerator, "accelerator");
      return this;
    }

    /** Direct kernel boot with paths on the server. */
    public Builder kernel(String kernel, String initrd, String cmdline) {
      this.kernel = kernel;
      this.initrd = initrd;
      this.cmdline = cmdline;
      return this;
    }

    /** Adds a read-write virtio-blk disk: guest device {@code target}, image path on the server. */
    public Builder disk(String target, String source, DiskFormat format) {
      disks.add(new Disk(target, source, format, false));
      return this;
    }

    /** Free-form {@code <metadata>} content, kept verbatim. */
    public Builder metadataXml(String metadataXml) {
      this.metadataXml = metadataXml;
      return this;
    }

    /** Free text shown with the domain. */
    public Builder description(String description) {
      this.description = description;
      return this;
    }

    /** The config; the server validates it when it is defined. */
    public DomainConfig build() {
      return new DomainConfig(name, uuid, memoryBytes, vcpus, machine, accelerator, kernel,
          initrd, cmdline, disks, metadataXml, description);
    }
  }
}
