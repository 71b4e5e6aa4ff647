package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;

/**
 * {@code <disk>}: an image file or a host block device attached as a virtio, SATA or IDE disk,
 * or a cdrom drive holding a raw ISO image or nothing.
 *
 * <pre>{@code
 * <disk type='file|block' device='disk|cdrom'>
 *   <driver name='qemu' type='qcow2|raw' cache='none' io='native' discard='unmap'/>
 *   <source file='/abs/path'/>  (type='block': <source dev='/dev/...'/>)
 *   <target dev='vda' bus='virtio'/>  (or sda with bus='sata' on q35, hda with bus='ide' on pc)
 *   <readonly/>
 *   <shareable/>
 *   <serial>ABC</serial>
 * </disk>
 * }</pre>
 *
 * Once parsed, type, device, driver name, format and bus are present (defaults: type file,
 * device disk, driver qemu, format raw, bus ide for an {@code hd*} target, else virtio); cache,
 * io, discard and serial stay absent unless given, as in libvirt. A cdrom is read-only and may
 * have no source (an empty tray); a disk on IDE, SATA or SCSI has a drive address. Mutable,
 * not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"driver", "source", "target", "readonly", "shareable", "serial", "address"})
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

  @XmlElement(name = "shareable")
  private Flag shareable;

  @XmlElement(name = "serial")
  private String serial;

  @XmlElement(name = "address")
  DeviceAddress address;

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

  /** Whether this is a cdrom drive ({@code device='cdrom'}): read-only, maybe empty. */
  public boolean isCdrom() {
    return "cdrom".equals(device);
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

  /** Sets the image file; null removes {@code <source>} (a cdrom's empty tray). */
  public void setSourceFile(String file) {
    if (file == null && (source == null || source.dev == null)) {
      source = null;
      return;
    }
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

  /** Whether other VMs may write the disk too ({@code <shareable/>}). */
  public boolean isShareable() {
    return shareable != null;
  }

  public void setShareable(boolean shareable) {
    this.shareable = shareable ? new Flag() : null;
  }

  /** The serial number the guest sees ({@code <serial>}), or null. */
  public String getSerial() {
    return serial;
  }

  public void setSerial(String serial) {
    this.serial = serial;
  }

  /** Where the disk's controller or PCI function sits, or null until define assigns it. */
  public DeviceAddress getAddress() {
    return address;
  }

  /** The host block device of a {@code type='block'} disk ({@code <source dev=...>}). */
  public String getSourceDev() {
    return source == null ? null : source.dev;
  }

  public void setSourceDev(String dev) {
    if (source == null) {
      source = new Source();
    }
    source.dev = dev;
  }

  /**
   * What QEMU opens: the source dev of a {@code type='block'} disk, else the source file; null for
   * a cdrom with an empty tray.
   */
  public String sourcePath() {
    return "block".equals(type) ? getSourceDev() : getSourceFile();
  }

  /** {@code <driver cache=...>}: none, writeback, writethrough, directsync, unsafe; or null. */
  public String getCache() {
    return driver == null ? null : driver.cache;
  }

  public void setCache(String cache) {
    driver().cache = cache;
  }

  /** {@code <driver io=...>}: threads, native, io_uring; or null. */
  public String getIo() {
    return driver == null ? null : driver.io;
  }

  public void setIo(String io) {
    driver().io = io;
  }

  /** {@code <driver discard=...>}: unmap or ignore; or null. */
  public String getDiscard() {
    return driver == null ? null : driver.discard;
  }

  public void setDiscard(String discard) {
    driver().discard = discard;
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

    @XmlAttribute(name = "cache")
    String cache;

    @XmlAttribute(name = "io")
    String io;

    @XmlAttribute(name = "discard")
    String discard;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Source {
    @XmlAttribute(name = "file")
    String file;

    @XmlAttribute(name = "dev")
    String dev;
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
