package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;

/**
 * A device's {@code <address type='pci' domain='0x0000' bus='0x00' slot='0x04'
 * function='0x0'/>}, as libvirt writes it. {@link PciAddresses} validates it, writes it in
 * libvirt's hex form and assigns the missing ones at define. A disk on an IDE, SATA or SCSI bus
 * has a {@code <address type='drive' controller='0' bus='0' target='0' unit='0'/>} instead,
 * which {@link DriveAddresses} checks and fills in. Mutable, not thread-safe; see {@link
 * DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
public final class DeviceAddress {
  @XmlAttribute(name = "type")
  String type;

  @XmlAttribute(name = "controller")
  String controller;

  @XmlAttribute(name = "domain")
  String domain;

  @XmlAttribute(name = "bus")
  String bus;

  @XmlAttribute(name = "slot")
  String slot;

  @XmlAttribute(name = "function")
  String function;

  @XmlAttribute(name = "multifunction")
  String multifunction;

  @XmlAttribute(name = "target")
  String target;

  @XmlAttribute(name = "unit")
  String unit;

  public DeviceAddress() {}

  /** A PCI address in libvirt's form; {@code multifunction='on'} only when asked. */
  static DeviceAddress pci(int bus, int slot, int function, boolean multifunction) {
    DeviceAddress a = new DeviceAddress();
    a.type = "pci";
    a.domain = "0x0000";
    a.bus = String.format("0x%02x", bus);
    a.slot = String.format("0x%02x", slot);
    a.function = "0x" + Integer.toHexString(function);
    a.multifunction = multifunction ? "on" : null;
    return a;
  }

  /** A drive address in libvirt's form. */
  static DeviceAddress drive(int controller, int bus, int target, int unit) {
    DeviceAddress a = new DeviceAddress();
    a.type = "drive";
    a.controller = Integer.toString(controller);
    a.bus = Integer.toString(bus);
    a.target = Integer.toString(target);
    a.unit = Integer.toString(unit);
    return a;
  }

  /** Whether this is a {@code type='drive'} address (IDE, SATA, SCSI). */
  public boolean isDrive() {
    return "drive".equals(type);
  }

  /** A drive address's controller index; valid once {@link DriveAddresses} accepted it. */
  public int controller() {
    return Integer.parseInt(controller);
  }

  /** A drive address's SCSI target (0 on IDE and SATA). */
  public int target() {
    return Integer.parseInt(target);
  }

  /** A drive address's unit: IDE master/slave, SATA port, SCSI LUN. */
  public int unit() {
    return Integer.parseInt(unit);
  }

  /** The bus number; valid once {@link PciAddresses#validate} accepted the address. */
  public int bus() {
    return Integer.decode(bus);
  }

  /** The slot number, 0 to 31. */
  public int slot() {
    return Integer.decode(slot);
  }

  /** The function number, 0 to 7. */
  public int function() {
    return Integer.decode(function);
  }

  /** Whether the slot holds more than one function ({@code multifunction='on'}). */
  public boolean multifunction() {
    return "on".equals(multifunction);
  }

  /** {@code bus:slot.function} in hex, as lspci shows it, e.g. {@code 00:04.0}. */
  @Override
  public String toString() {
    if (isDrive()) {
      return "drive " + controller + ":" + bus + ":" + target + ":" + unit;
    }
    return String.format("%02x:%02x.%x", bus(), slot(), function());
  }
}
