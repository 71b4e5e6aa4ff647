package dev.cryo.server.domain;

import dev.cryo.server.xml.SecureXml;
import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAnyElement;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlRootElement;
import jakarta.xml.bind.annotation.XmlType;
import jakarta.xml.bind.annotation.XmlValue;
import java.util.ArrayList;
import java.util.List;
import org.w3c.dom.Element;

/**
 * A domain definition: the subset of libvirt's {@code <domain>} XML that Cryo models, bound with
 * JAXB (the counterpart of libvirt's {@code virDomainDef}). Read and write it with {@link
 * DomainXml}, which also validates it; the classes themselves accept anything.
 *
 * <p>Modelled, in libvirt's element order:
 *
 * <pre>{@code
 * <domain type='kvm|qemu'>
 *   <name/> <uuid/> <description/> <metadata>(any elements, kept verbatim)</metadata>
 *   <memory unit='KiB'/> <currentMemory unit='KiB'/> <vcpu placement='static'/>
 *   <os> <type arch='' machine=''>hvm</type> <kernel/> <initrd/> <cmdline/> <boot dev=''/>* </os>
 *   <features> <acpi/> <apic/> <pae/> </features>          see FeaturesDef
 *   <cpu mode='' match=''> <model fallback=''/> <topology .../> </cpu>    see CpuDef
 *   <on_poweroff/> <on_reboot/> <on_crash/>
 *   <devices> see DevicesDef </devices>
 * </domain>
 * }</pre>
 *
 * <p><b>Machine features.</b> With {@code <features>} in the XML, libvirt's rule: the guest has
 * ACPI only if it lists {@code <acpi/>}. Without {@code <features>}, Cryo keeps QEMU's default
 * machine (ACPI on: the guest's shutdown relies on it, and saved images restore into the same
 * machine) and stores {@code <features><acpi/><apic/></features>}, which libvirt runs the same.
 * So XML written for libvirt means the same here, except that libvirt would turn ACPI off for a
 * definition with no {@code <features>} at all; write an empty {@code <features/>} for that.
 *
 * <p><b>Memory.</b> {@code <memory>} is the guest's RAM; {@code <currentMemory>} (at most that,
 * libvirt's default) is what the guest keeps once its virtio balloon ({@code <memballoon
 * model='virtio'>}, added when the XML has none) has inflated: set as the balloon's target when
 * the domain starts. A larger {@code currentMemory} is lowered to {@code memory}, as libvirt
 * does, with a warning. With {@code <memballoon model='none'>} the guest keeps all of {@code
 * <memory>}.
 *
 * <p><b>Unsupported content.</b> Elements and attributes Cryo does not model (clock, graphics,
 * cpu features, aliases, ...) are ignored: they are dropped, and {@link
 * DomainXml#parse} reports each as a warning such as {@code ignored element
 * /domain/devices/graphics (line 31)} or {@code ignored attribute /domain/vcpu/@cpuset (line
 * 9)}. Values Cryo models but cannot honour are rejected with an {@code InvalidArgumentException}
 * that names them: a domain type other than kvm or qemu, an os type other than hvm, a disk whose
 * type is not file or block, whose device is not disk or cdrom, whose driver type is not raw or
 * qcow2, whose target bus is not virtio, sata (q35), ide (pc) or scsi (virtio-scsi), a cdrom on
 * virtio, or a source that is not an absolute path, two disks with the same target or drive
 * address, a missing name, memory that is not a positive number of a known unit, and the like.
 * A modelled element that may occur once (such as {@code <name>}) but occurs twice is refused
 * too.
 *
 * <p>Memory is always held, and written, in KiB. Instances are mutable and not thread-safe; share
 * a {@link #copy()}.
 */
@XmlRootElement(name = "domain")
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(
    propOrder = {
      "name",
      "uuid",
      "description",
      "metadata",
      "memory",
      "currentMemory",
      "vcpu",
      "os",
      "features",
      "cpu",
      "onPoweroff",
      "onReboot",
      "onCrash",
      "devices"
    })
public final class DomainDef {
  @XmlAttribute(name = "type")
  private String type;

  @XmlElement(name = "name")
  private String name;

  @XmlElement(name = "uuid")
  private String uuid;

  @XmlElement(name = "description")
  private String description;

  @XmlElement(name = "metadata")
  private Metadata metadata;

  @XmlElement(name = "memory")
  private Memory memory;

  @XmlElement(name = "currentMemory")
  private Memory currentMemory;

  @XmlElement(name = "vcpu")
  private Vcpu vcpu;

  @XmlElement(name = "os")
  private OsDef os;

  @XmlElement(name = "features")
  private FeaturesDef features;

  @XmlElement(name = "cpu")
  private CpuDef cpu;

  @XmlElement(name = "on_poweroff")
  private String onPoweroff;

  @XmlElement(name = "on_reboot")
  private String onReboot;

  @XmlElement(name = "on_crash")
  private String onCrash;

  @XmlElement(name = "devices")
  private DevicesDef devices;

  /** An empty definition; fill it in, then {@link DomainXml#format} or validate via parse. */
  public DomainDef() {}

  /** A deep copy, made by writing and reading back the XML (without validating it again). */
  public DomainDef copy() {
    return SecureXml.unmarshal(SecureXml.marshal(this), DomainDef.class, "domain");
  }

  /** The {@code type} attribute: {@code kvm} or {@code qemu}. */
  public String getType() {
    return type;
  }

  public void setType(String type) {
    this.type = type;
  }

  public String getName() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  /** The UUID in canonical lower-case 8-4-4-4-12 form once parsed. */
  public String getUuid() {
    return uuid;
  }

  public void setUuid(String uuid) {
    this.uuid = uuid;
  }

  /** Free text, or null. */
  public String getDescription() {
    return description;
  }

  public void setDescription(String description) {
    this.description = description;
  }

  /**
   * The children of {@code <metadata>}, kept verbatim with their namespaces; empty if there is
   * none. The list is read-only; the elements are the live DOM nodes.
   */
  public List<Element> getMetadata() {
    return metadata == null ? List.of() : List.copyOf(metadata.elements);
  }

  /** Replaces the children of {@code <metadata>}; an empty list removes the element. */
  public void setMetadata(List<Element> elements) {
    if (elements == null || elements.isEmpty()) {
      metadata = null;
    } else {
      metadata = new Metadata();
      metadata.elements.addAll(elements);
    }
  }

  /** Maximum guest memory in KiB ({@code <memory>}), or 0 if unset. */
  public long memoryKiB() {
    return Memory.kib(memory);
  }

  /** Maximum guest memory in bytes. */
  public long memoryBytes() {
    return memoryKiB() * 1024;
  }

  /** Sets the maximum guest memory, rounded up to whole KiB as libvirt does. */
  public void setMemoryBytes(long bytes) {
    memory = Memory.ofBytes(bytes);
  }

  /** Memory given to the guest at boot in KiB ({@code <currentMemory>}), or 0 if unset. */
  public long currentMemoryKiB() {
    return Memory.kib(currentMemory);
  }

  /** Memory given to the guest at boot in bytes. */
  public long currentMemoryBytes() {
    return currentMemoryKiB() * 1024;
  }

  /** Sets the memory at boot, rounded up to whole KiB. */
  public void setCurrentMemoryBytes(long bytes) {
    currentMemory = Memory.ofBytes(bytes);
  }

  /** The number of virtual CPUs ({@code <vcpu>}); 1 if unset. */
  public int vcpus() {
    if (vcpu == null || vcpu.count == null) {
      return 1;
    }
    try {
      return Integer.parseInt(vcpu.count.strip());
    } catch (NumberFormatException e) {
      return 1; // DomainXml.parse rejects this; a hand-built definition may still carry it
    }
  }

  /** Sets the number of virtual CPUs, at least 1. */
  public void setVcpus(int count) {
    if (count < 1) {
      throw new IllegalArgumentException("a domain needs at least 1 vCPU, got " + count);
    }
    if (vcpu == null) {
      vcpu = new Vcpu();
      vcpu.placement = "static";
    }
    vcpu.count = Integer.toString(count);
  }

  /** The {@code <os>} element, or null. */
  public OsDef getOs() {
    return os;
  }

  public void setOs(OsDef os) {
    this.os = os;
  }

  /** The QEMU machine type ({@code <os><type machine=...>}), or null for QEMU's default. */
  public String machine() {
    return os == null ? null : os.getMachine();
  }

  /** The guest architecture ({@code <os><type arch=...>}), or null for the host's. */
  public String arch() {
    return os == null ? null : os.getArch();
  }

  /**
   * {@code <features>}; never null once parsed (see {@link FeaturesDef} for the rule when the XML
   * has none).
   */
  public FeaturesDef getFeatures() {
    return features;
  }

  public void setFeatures(FeaturesDef features) {
    this.features = features;
  }

  /** {@code <cpu>}, or null for QEMU's default CPU model and one socket per vCPU. */
  public CpuDef getCpu() {
    return cpu;
  }

  public void setCpu(CpuDef cpu) {
    this.cpu = cpu;
  }

  /** What to do when the guest powers off: libvirt's keyword, {@code destroy} by default. */
  public String getOnPoweroff() {
    return onPoweroff;
  }

  public void setOnPoweroff(String onPoweroff) {
    this.onPoweroff = onPoweroff;
  }

  /** What to do when the guest reboots: {@code restart} by default. */
  public String getOnReboot() {
    return onReboot;
  }

  public void setOnReboot(String onReboot) {
    this.onReboot = onReboot;
  }

  /** What to do when the guest crashes: {@code destroy} by default. */
  public String getOnCrash() {
    return onCrash;
  }

  public void setOnCrash(String onCrash) {
    this.onCrash = onCrash;
  }

  /** The {@code <devices>} element; created empty if there is none. */
  public DevicesDef getDevices() {
    if (devices == null) {
      devices = new DevicesDef();
    }
    return devices;
  }

  public void setDevices(DevicesDef devices) {
    this.devices = devices;
  }

  /** The disks, in document order; the live list. */
  public List<DiskDef> disks() {
    return getDevices().getDisks();
  }

  /**
   * Whether the definition asks for a serial console ({@code <serial>} or {@code <console>}). The
   * server gives every guest a serial port on ttyS0 either way.
   */
  public boolean hasSerialConsole() {
    return devices != null
        && (!devices.getSerials().isEmpty() || !devices.getConsoles().isEmpty());
  }

  // ---- raw parts for DomainXml ---------------------------------------------------------------

  Memory rawMemory() {
    return memory;
  }

  void setRawMemory(Memory memory) {
    this.memory = memory;
  }

  Memory rawCurrentMemory() {
    return currentMemory;
  }

  void setRawCurrentMemory(Memory memory) {
    this.currentMemory = memory;
  }

  Vcpu rawVcpu() {
    return vcpu;
  }

  void setRawVcpu(Vcpu vcpu) {
    this.vcpu = vcpu;
  }

  /** {@code <metadata>}: any child elements, as DOM, namespaces included. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Metadata {
    @XmlAnyElement
    final List<Element> elements = new ArrayList<>();
  }

  /** {@code <memory unit='...'>value</memory>} as written; DomainXml turns it into KiB. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Memory {
    @XmlAttribute(name = "unit")
    String unit;

    @XmlValue
    String value;

    static Memory ofKiB(long kib) {
      Memory m = new Memory();
      m.unit = "KiB";
      m.value = Long.toString(kib);
      return m;
    }

    static Memory ofBytes(long bytes) {
      if (bytes <= 0) {
        throw new IllegalArgumentException("memory must be positive, got " + bytes + " bytes");
      }
      return ofKiB(bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1));
    }

    /** The KiB of a normalized element; 0 if absent or not (yet) normalized. */
    static long kib(Memory m) {
      if (m == null || m.value == null || !"KiB".equals(m.unit)) {
        return 0;
      }
      try {
        return Long.parseLong(m.value.strip());
      } catch (NumberFormatException e) {
        return 0;
      }
    }
  }

  /** {@code <vcpu placement='static'>N</vcpu>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Vcpu {
    @XmlAttribute(name = "placement")
    String placement;

    @XmlValue
    String count;
  }
}
