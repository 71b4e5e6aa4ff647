package dev.cryo.server.checkpoint;

import dev.cryo.server.domain.DomainDef;
import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlRootElement;
import jakarta.xml.bind.annotation.XmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * libvirt's {@code <domaincheckpoint>}, bound with JAXB. Read and write it with {@link
 * CheckpointXml}, which validates it and applies libvirt's defaults.
 *
 * <pre>{@code
 * <domaincheckpoint>
 *   <name>c1</name> <description/> <parent><name>c0</name></parent>
 *   <creationTime>1525889631</creationTime>
 *   <disks>
 *     <disk name='vda' checkpoint='bitmap' bitmap='c1' size='1048576'/>
 *     <disk name='vdb' checkpoint='no'/>
 *   </disks>
 *   <domain>...the domain definition at the checkpoint's instant...</domain>
 * </domaincheckpoint>
 * }</pre>
 *
 * Mutable and not thread-safe; {@link CheckpointTree} hands out copies.
 */
@XmlRootElement(name = "domaincheckpoint")
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"name", "description", "parent", "creationTime", "disks", "domain"})
public final class CheckpointDef {
  @XmlElement(name = "name")
  private String name;

  @XmlElement(name = "description")
  private String description;

  @XmlElement(name = "parent")
  private Parent parent;

  @XmlElement(name = "creationTime")
  private Long creationTime;

  @XmlElement(name = "disks")
  private Disks disks;

  @XmlElement(name = "domain")
  private DomainDef domain;

  public CheckpointDef() {}

  public String getName() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public String getDescription() {
    return description;
  }

  public void setDescription(String description) {
    this.description = description;
  }

  /** The parent checkpoint's name, or null for a root. */
  public String getParent() {
    return parent == null ? null : parent.name;
  }

  public void setParent(String parentName) {
    if (parentName == null) {
      parent = null;
    } else {
      parent = new Parent();
      parent.name = parentName;
    }
  }

  /** Creation time in seconds since the epoch, or null before it is set. */
  public Long getCreationTime() {
    return creationTime;
  }

  public void setCreationTime(Long creationTime) {
    this.creationTime = creationTime;
  }

  /** The disks, in the domain's disk order once aligned. Never null; modifiable. */
  public List<Disk> disks() {
    if (disks == null) {
      disks = new Disks();
    }
    return disks.disks;
  }

  /** Whether the document had a {@code <disks>} element with at least one disk. */
  boolean hasDisks() {
    return disks != null && !disks.disks.isEmpty();
  }

  /** The domain definition saved with the checkpoint, or null. */
  public DomainDef getDomain() {
    return domain;
  }

  public void setDomain(DomainDef domain) {
    this.domain = domain;
  }

  /** A deep copy (through XML, without validating again). */
  public CheckpointDef copy() {
    return CheckpointXml.copy(this);
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Parent {
    @XmlElement(name = "name")
    String name;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Disks {
    @XmlElement(name = "disk")
    List<Disk> disks = new ArrayList<>();
  }

  /** {@code <disk name='vda' checkpoint='bitmap|no' bitmap='NAME' size='BYTES'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class Disk {
    /** The value of {@code checkpoint} for a disk that gets a bitmap. */
    public static final String BITMAP = "bitmap";
    /** The value of {@code checkpoint} for a disk that is not part of the checkpoint. */
    public static final String NO = "no";

    @XmlAttribute(name = "name")
    private String name;

    @XmlAttribute(name = "checkpoint")
    private String checkpoint;

    @XmlAttribute(name = "bitmap")
    private String bitmap;

    @XmlAttribute(name = "size")
    private Long size;

    public Disk() {}

    public Disk(String name, String checkpoint, String bitmap) {
      this.name = name;
      this.checkpoint = checkpoint;
      this.bitmap = bitmap;
    }

    /** The disk's target device, e.g. {@code vda}. */
    public String getName() {
      return name;
    }

    void setName(String name) {
      this.name = name;
    }

    /** {@link #BITMAP} or {@link #NO} once parsed. */
    public String getCheckpoint() {
      return checkpoint;
    }

    void setCheckpoint(String checkpoint) {
      this.checkpoint = checkpoint;
    }

    public boolean hasBitmap() {
      return BITMAP.equals(checkpoint);
    }

    /** The dirty bitmap's name in the disk image; null when {@code checkpoint='no'}. */
    public String getBitmap() {
      return bitmap;
    }

    void setBitmap(String bitmap) {
      this.bitmap = bitmap;
    }

    /** Bytes changed since the checkpoint, only when asked for; null otherwise. */
    public Long getSize() {
      return size;
    }

    public void setSize(Long size) {
      this.size = size;
    }
  }
}
