package dev.cryo.server.snapshot;

import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.xml.SecureXml;
import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlRootElement;
import jakarta.xml.bind.annotation.XmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * libvirt's {@code <domainsnapshot>} (virDomainSnapshotDef), bound with JAXB, in libvirt's output
 * order:
 *
 * <pre>{@code
 * <domainsnapshot>
 *   <name/> <description/> <state>running|paused|shutoff|disk-snapshot</state>
 *   <parent><name/></parent> <creationTime>seconds</creationTime>
 *   <memory snapshot='no|internal|external' file='/abs'/>
 *   <disks><disk name='vda' snapshot='no|internal|external|manual' type='file'>
 *     <driver type='qcow2'/> <source file='/abs'/> </disk></disks>
 *   <domain>...the domain definition at the time...</domain>
 *   <active>1</active>
 * </domainsnapshot>
 * }</pre>
 *
 * Read and write it with {@link SnapshotXml}, which validates and fills in defaults. Mutable, not
 * thread-safe: share a {@link #copy()}.
 */
@XmlRootElement(name = "domainsnapshot")
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"name", "description", "state", "parent", "creationTime", "memory",
    "disks", "domain", "active"})
public final class SnapshotDef {
  @XmlElement(name = "name")
  String name;

  @XmlElement(name = "description")
  String description;

  @XmlElement(name = "state")
  String state;

  @XmlElement(name = "parent")
  Parent parent;

  @XmlElement(name = "creationTime")
  Long creationTime;

  @XmlElement(name = "memory")
  Memory memory;

  @XmlElement(name = "disks")
  Disks disks;

  @XmlElement(name = "domain")
  DomainDef domain;

  @XmlElement(name = "active")
  Integer active;

  public SnapshotDef() {}

  /** A disk entry of a structured request; {@code file} only for external, may be null. */
  public record DiskSpec(String name, Location location, String file) {}

  /**
   * A create request built without XML. Null or empty values are left out, so the same defaults
   * apply as for XML; {@link SnapshotXml} validates it when the server writes and re-reads it.
   */
  public static SnapshotDef spec(String name, String description, Location memory,
      String memoryFile, java.util.List<DiskSpec> disks) {
    SnapshotDef def = new SnapshotDef();
    def.name = name == null || name.isEmpty() ? null : name;
    def.description = description == null || description.isEmpty() ? null : description;
    if (memory != null || (memoryFile != null && !memoryFile.isEmpty())) {
      def.memory = new Memory();
      def.memory.snapshot = memory == null ? null : memory.xml();
      def.memory.file = memoryFile == null || memoryFile.isEmpty() ? null : memoryFile;
    }
    if (!disks.isEmpty()) {
      def.disks = new Disks();
      for (DiskSpec ds : disks) {
        Disk d = new Disk();
        d.name = ds.name();
        d.snapshot = ds.location() == null ? null : ds.location().xml();
        if (ds.file() != null && !ds.file().isEmpty()) {
          d.source = new Source();
          d.source.file = ds.file();
        }
        def.disks.disks.add(d);
      }
    }
    return def;
  }

  /** A deep copy. */
  public SnapshotDef copy() {
    return SecureXml.unmarshal(SecureXml.marshal(this), SnapshotDef.class, "domainsnapshot");
  }

  public String name() {
    return name;
  }

  public String description() {
    return description;
  }

  /** {@code running}, {@code paused}, {@code shutoff} or {@code disk-snapshot}. */
  public String state() {
    return state;
  }

  /** The parent's name, or null for a root. */
  public String parentName() {
    return parent == null ? null : parent.name;
  }

  void setParentName(String name) {
    parent = name == null ? null : new Parent(name);
  }

  /** Seconds since the epoch. */
  public long creationTime() {
    return creationTime == null ? 0 : creationTime;
  }

  /** The memory location: {@code no}, {@code internal} or {@code external}. */
  public Location memoryLocation() {
    return memory == null || memory.snapshot == null ? null : Location.of(memory.snapshot);
  }

  /** The memory state file of an external snapshot, or null. */
  public String memoryFile() {
    return memory == null ? null : memory.file;
  }

  /** The per-disk entries, never null. */
  public List<Disk> disks() {
    return disks == null ? List.of() : disks.disks;
  }

  /** The domain definition when the snapshot was taken, or null. */
  public DomainDef domain() {
    return domain;
  }

  /** Whether any disk of this snapshot is external. */
  public boolean isExternal() {
    if (memoryLocation() == Location.EXTERNAL) {
      return true;
    }
    return disks().stream().anyMatch(d -> d.location() == Location.EXTERNAL);
  }

  /** Whether the snapshot holds guest memory (running or paused at the time). */
  public boolean hasMemory() {
    Location m = memoryLocation();
    return m == Location.INTERNAL || m == Location.EXTERNAL;
  }

  /** The targets of the disks whose snapshot lives inside their own qcow2 image. */
  List<String> internalDisks() {
    return disks().stream().filter(d -> d.location() == Location.INTERNAL)
        .map(Disk::name).toList();
  }

  /** Where a part of a snapshot lives, libvirt's virDomainSnapshotLocation. */
  public enum Location {
    NO("no"), INTERNAL("internal"), EXTERNAL("external"), MANUAL("manual");

    private final String xml;

    Location(String xml) {
      this.xml = xml;
    }

    public String xml() {
      return xml;
    }

    /** The location for an XML keyword, or null if it is not one. */
    public static Location of(String xml) {
      for (Location l : values()) {
        if (l.xml.equals(xml)) {
          return l;
        }
      }
      return null;
    }
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotParent")
  static final class Parent {
    @XmlElement(name = "name")
    String name;

    Parent() {}

    Parent(String name) {
      this.name = name;
    }
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotMemory")
  static final class Memory {
    @XmlAttribute(name = "snapshot")
    String snapshot;

    @XmlAttribute(name = "file")
    String file;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotDisks")
  static final class Disks {
    @XmlElement(name = "disk")
    List<Disk> disks = new ArrayList<>();
  }

  /** {@code <disk name='vda' snapshot='external' type='file'>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotDisk", propOrder = {"driver", "source"})
  public static final class Disk {
    @XmlAttribute(name = "name")
    String name;

    @XmlAttribute(name = "snapshot")
    String snapshot;

    @XmlAttribute(name = "type")
    String type;

    @XmlElement(name = "driver")
    Driver driver;

    @XmlElement(name = "source")
    Source source;

    public Disk() {}

    /** The domain disk's target, e.g. {@code vda}. */
    public String name() {
      return name;
    }

    public Location location() {
      return snapshot == null ? null : Location.of(snapshot);
    }

    /** The new (overlay) file of an external disk snapshot, or null. */
    public String file() {
      return source == null ? null : source.file;
    }

    /** The overlay format, or null. */
    public String format() {
      return driver == null ? null : driver.type;
    }
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotDriver")
  static final class Driver {
    @XmlAttribute(name = "type")
    String type;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "snapshotSource")
  static final class Source {
    @XmlAttribute(name = "file")
    String file;
  }
}
