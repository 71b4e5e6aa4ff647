package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;

/**
 * {@code <disk>}: an image file attached as a virtio disk.
 *
 * <pre>{@code
 * <disk type='file' device='disk'>
 *   <driver name='qemu' type='qcow2|raw'/>
 *   <source file='/abs/path'/>
 *   <target dev='vda' bus='virtio'/>
 *   <readonly/>
 * </disk>
 * }</pre>
 *
 * Once parsed, every attribute above is present (defaults: type file, device disk, driver qemu,
 * format raw, bus virtio). Mutable, not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"driver", "source", "target", "readonly"})
public final class DiskDef {
  /** Format of a raw image. */
  public static final String RAW = "raw";
  /** Format of a qcow2 image. */
  public static final String QCOW2 = "qcow2";

  @XmlAttribute(name = "type")
  private String type;

  @XmlAttribute(name = "device")
  private String device;

  @XmlElement(name = "driver")
  private Driver driver;

  @XmlElement(name = "source")
  private Source source;

  @XmlElement(name = "target")
  private Target target;

  @XmlElement(name = "readonly")
  private Flag readonly;

  public DiskDef() {}

  /**
   * A writable file-backed virtio disk.
   *
   * @param file absolute path of the image
   * @param format {@link #RAW} or {@link #QCOW2}
   * @param targetDev guest device name, e.g. {@code vda}
   */
  public static DiskDef file(String file, String format, String targetDev) {
    DiskDef disk = new DiskDef();
    disk.setType("file");
    disk.setDevice("disk");
    disk.setDriverName("qemu");
    disk.setFormat(format);
    disk.setSourceFile(file);
    disk.setTargetDev(targetDev);
    disk.setTargetBus("virtio");
    return disk;
  }

  /** The disk type attribute; {@code file} once parsed. */
  public String getType() {
    return type;
  }

  public void setType(String type) {
    this.type = type;
  }

  /** The device attribute; {@code disk} once parsed. */
  public String getDevice() {
    return device;
  }

  public void setDevice(String device) {
    this.device = device;
  }

  /** The driver name; {@code qemu} once parsed. */
  public String getDriverName() {
    return driver == null ? null : driver.name;
  }

  public void setDriverName(String name) {
    driver().name = name;
  }

  /** The image format, {@code <driver type=...>}: {@link #RAW} or {@link #QCOW2} once parsed. */
  public String getFormat() {
    return driver == null ? null : driver.type;
  }

  public void setFormat(String format) {
    driver().type = format;
  }

  /** Absolute path of the image file. */
  public String getSourceFile() {
    return source == null ? null : source.file;
  }

  public void setSourceFile(String file) {
    if (source == null) {
      source = new Source();
    }
    source.file = file;
  }

  /** The guest device name, e.g. {@code vda}; unique within a domain. */
  public String getTargetDev() {
    return target == null ? null : target.dev;
  }

  public void setTargetDev(String dev) {
    target().dev = dev;
  }

  /** The bus; {@code virtio} once parsed. */
  public String getTargetBus() {
    return target == null ? null : target.bus;
  }

  public void setTargetBus(String bus) {
    target().bus = bus;
  }

  /** Whether the guest sees the disk read-only ({@code <readonly/>}). */
  public boolean isReadonly() {
    return readonly != null;
  }

  public void setReadonly(boolean readonly) {
    this.readonly = readonly ? new Flag() : null;
  }

  private Driver driver() {
    if (driver == null) {
      driver = new Driver();
    }
    return driver;
  }

  private Target target() {
    if (target == null) {
      target = new Target();
    }
    return target;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Driver {
    @XmlAttribute(name = "name")
    String name;

    @XmlAttribute(name = "type")
    String type;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Source {
    @XmlAttribute(name = "file")
    String file;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Target {
    @XmlAttribute(name = "dev")
    String dev;

    @XmlAttribute(name = "bus")
    String bus;
  }

  /** An element whose presence is the value, like {@code <readonly/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Flag {}
}
