package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;

/**
 * A device's {@code <address type='pci' domain='0x0000' bus='0x00' slot='0x04'
 * function='0x0'/>}, as libvirt writes it. {@link PciAddresses} validates it, writes it in
 * libvirt's hex form and assigns the missing ones at define. Mutable, not thread-safe; see {@link
 * DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
public final class DeviceAddress {
  @XmlAttribute(name = "type")
  String type;

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
    return String.format("%02x:%02x.%x", bus(), slot(), function());
  }
}
