package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code <devices>}, in libvirt's order:
 *
 * <pre>{@code
 * <devices>
 *   <emulator>/usr/bin/qemu-system-x86_64</emulator>   kept, but the server picks its own QEMU
 *   <disk .../>*                                        see DiskDef
 *   <controller type='usb' model='none'/>*              type and model only
 *   <interface .../>*                                   see InterfaceDef
 *   <serial type='pty'/>* <console type='pty'/>*        only that they exist
 *   <memballoon model='none|virtio'/>
 * </devices>
 * }</pre>
 *
 * <p>Of the controllers and the balloon only what changes QEMU's device set is modelled: a USB
 * controller with model {@code none} means no USB, a balloon with model {@code none} means no
 * balloon device. The server always gives the guest one serial port (ttyS0) whatever {@code
 * <serial>} and {@code <console>} say. Mutable, not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(
    propOrder = {
      "emulator",
      "disks",
      "controllers",
      "interfaces",
      "serials",
      "consoles",
      "memballoon"
    })
public final class DevicesDef {
  @XmlElement(name = "emulator")
  private String emulator;

  @XmlElement(name = "disk")
  private List<DiskDef> disks = new ArrayList<>();

  @XmlElement(name = "controller")
  private List<Controller> controllers = new ArrayList<>();

  @XmlElement(name = "interface")
  private List<InterfaceDef> interfaces = new ArrayList<>();

  @XmlElement(name = "serial")
  private List<CharDevice> serials = new ArrayList<>();

  @XmlElement(name = "console")
  private List<CharDevice> consoles = new ArrayList<>();

  @XmlElement(name = "memballoon")
  private Memballoon memballoon;

  public DevicesDef() {}

  /** The {@code <emulator>} path as given; kept for round trips, not used to start QEMU. */
  public String getEmulator() {
    return emulator;
  }

  public void setEmulator(String emulator) {
    this.emulator = emulator;
  }

  /** The disks in document order; the live list. */
  public List<DiskDef> getDisks() {
    return disks;
  }

  /** The controllers in document order; the live list. */
  public List<Controller> getControllers() {
    return controllers;
  }

  /** The network interfaces in document order; the live list. */
  public List<InterfaceDef> getInterfaces() {
    return interfaces;
  }

  /** The {@code <serial>} devices; the live list. */
  public List<CharDevice> getSerials() {
    return serials;
  }

  /** The {@code <console>} devices; the live list. */
  public List<CharDevice> getConsoles() {
    return consoles;
  }

  /** The {@code <memballoon>}, or null if the definition has none (libvirt then adds virtio). */
  public Memballoon getMemballoon() {
    return memballoon;
  }

  public void setMemballoon(Memballoon memballoon) {
    this.memballoon = memballoon;
  }

  /**
   * The model of the first USB controller, e.g. {@code none} or {@code piix3-uhci}; null if there
   * is no USB controller or it names no model.
   */
  public String usbControllerModel() {
    for (Controller c : controllers) {
      if ("usb".equals(c.getType())) {
        return c.getModel();
      }
    }
    return null;
  }

  /** {@code <controller type='usb' model='none'/>}: only type and model are modelled. */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class Controller {
    @XmlAttribute(name = "type")
    private String type;

    @XmlAttribute(name = "model")
    private String model;

    public Controller() {}

    public Controller(String type, String model) {
      this.type = type;
      this.model = model;
    }

    /** The controller type, e.g. {@code usb} or {@code pci}. */
    public String getType() {
      return type;
    }

    /** The model, e.g. {@code none}, or null. */
    public String getModel() {
      return model;
    }
  }

  /** {@code <memballoon model='none|virtio'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class Memballoon {
    @XmlAttribute(name = "model")
    private String model;

    public Memballoon() {}

    public Memballoon(String model) {
      this.model = model;
    }

    /** {@code none} or {@code virtio} once parsed. */
    public String getModel() {
      return model;
    }
  }

  /** {@code <serial type='pty'/>} or {@code <console type='pty'/>}: only that it exists. */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class CharDevice {
    @XmlAttribute(name = "type")
    private String type;

    public CharDevice() {}

    public CharDevice(String type) {
      this.type = type;
    }

    /** The character device type; always {@code pty} once parsed. */
    public String getType() {
      return type;
    }

    void setType(String type) {
      this.type = type;
    }
  }
}
