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
 *   <controller type='usb|pci|sata|ide|scsi' .../>*     see PciAddresses
 *   <interface .../>*                                   see InterfaceDef
 *   <serial type='pty'/>* <console type='pty'/>*        only that they exist
 *   <input type='tablet' bus='usb'/>*                   and the machine's PS/2 mouse, keyboard
 *   <video><model type='vga|cirrus|virtio|none'/></video>
 *   <memballoon model='none|virtio'/>
 *   <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>*
 *   (each PCI device with its <address type='pci' .../>, see PciAddresses)
 * </devices>
 * }</pre>
 *
 * <p>A USB controller with model {@code none} means no USB, a balloon with model {@code none}
 * means no balloon device. The server always gives the guest one serial port (ttyS0) whatever
 * {@code <serial>} and {@code <console>} say. Mutable, not thread-safe; see {@link DomainDef}.
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
      "inputs",
      "videos",
      "memballoon",
      "rngs"
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

  @XmlElement(name = "input")
  private List<Input> inputs = new ArrayList<>();

  @XmlElement(name = "video")
  private List<Video> videos = new ArrayList<>();

  @XmlElement(name = "memballoon")
  private Memballoon memballoon;

  @XmlElement(name = "rng")
  private List<Rng> rngs = new ArrayList<>();

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

  /** The {@code <input>} devices; the live list. */
  public List<Input> getInputs() {
    return inputs;
  }

  /** The {@code <video>} devices, the primary first; the live list. */
  public List<Video> getVideos() {
    return videos;
  }

  /** The {@code <rng>} devices; the live list. */
  public List<Rng> getRngs() {
    return rngs;
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

  /**
   * {@code <controller type='usb|pci|sata|...' index='0' model='...'>} with, for a PCIe root port,
   * {@code <model name='pcie-root-port'/>} and {@code <target chassis='1' port='0x8'/>}, and its
   * {@code <address>}. {@link PciAddresses} checks and completes the USB and PCI ones; other
   * types are kept as they are.
   */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(propOrder = {"modelName", "target", "address"})
  public static final class Controller {
    @XmlAttribute(name = "type")
    private String type;

    @XmlAttribute(name = "index")
    String index;

    @XmlAttribute(name = "model")
    private String model;

    @XmlElement(name = "model")
    ModelName modelName;

    @XmlElement(name = "target")
    PortTarget target;

    @XmlElement(name = "address")
    DeviceAddress address;

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

    void setModel(String model) {
      this.model = model;
    }

    /** The index among controllers of its type (a PCI controller's index is its bus number). */
    public int index() {
      return index == null ? 0 : Integer.parseInt(index);
    }

    /** Where the controller sits, or null. */
    public DeviceAddress getAddress() {
      return address;
    }
  }

  /** A controller's {@code <model name='pcie-root-port'/>}: the QEMU device behind the model. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class ModelName {
    @XmlAttribute(name = "name")
    String name;
  }

  /** A PCIe root port's {@code <target chassis='1' port='0x8'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class PortTarget {
    @XmlAttribute(name = "chassis")
    String chassis;

    @XmlAttribute(name = "port")
    String port;
  }

  /** {@code <memballoon model='none|virtio'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class Memballoon {
    @XmlAttribute(name = "model")
    private String model;

    @XmlElement(name = "address")
    DeviceAddress address;

    public Memballoon() {}

    public Memballoon(String model) {
      this.model = model;
    }

    /** {@code none} or {@code virtio} once parsed. */
    public String getModel() {
      return model;
    }

    /** Where the balloon sits, or null. */
    public DeviceAddress getAddress() {
      return address;
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

  /**
   * {@code <input type='tablet|mouse|keyboard' bus='usb|ps2'/>}: a USB tablet becomes a device on
   * the USB controller ({@code <address type='usb' bus='0' port='1'/>}); the PS/2 mouse and
   * keyboard are the machine's own and need nothing.
   */
  @XmlAccessorType(XmlAccessType.FIELD)
  public static final class Input {
    @XmlAttribute(name = "type")
    String type;

    @XmlAttribute(name = "bus")
    String bus;

    @XmlElement(name = "address")
    UsbAddress address;
  }

  /** A USB device's {@code <address type='usb' bus='0' port='1'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class UsbAddress {
    @XmlAttribute(name = "type")
    String type;

    @XmlAttribute(name = "bus")
    String bus;

    @XmlAttribute(name = "port")
    String port;
  }

  /** {@code <video><model type='vga|virtio|cirrus|none' vram='16384' heads='1'/></video>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(propOrder = {"model", "address"})
  public static final class Video {
    @XmlElement(name = "model")
    VideoModel model;

    @XmlElement(name = "address")
    DeviceAddress address;

    /** The model type, e.g. {@code vga}, once parsed. */
    public String type() {
      return model == null ? null : model.type;
    }

    public DeviceAddress getAddress() {
      return address;
    }
  }

  /** A video card's {@code <model>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class VideoModel {
    @XmlAttribute(name = "type")
    String type;

    @XmlAttribute(name = "vram")
    String vram;

    @XmlAttribute(name = "heads")
    String heads;

    @XmlAttribute(name = "primary")
    String primary;
  }

  /**
   * {@code <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>}: a virtio
   * entropy source fed from a host random device.
   */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(propOrder = {"backend", "address"})
  public static final class Rng {
    @XmlAttribute(name = "model")
    String model;

    @XmlElement(name = "backend")
    RngBackend backend;

    @XmlElement(name = "address")
    DeviceAddress address;

    /** The host device the guest's entropy comes from. */
    public String source() {
      return backend == null ? null : backend.source;
    }

    public DeviceAddress getAddress() {
      return address;
    }
  }

  /** An rng's {@code <backend model='random'>/dev/urandom</backend>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class RngBackend {
    @XmlAttribute(name = "model")
    String model;

    @jakarta.xml.bind.annotation.XmlValue
    String source;
  }
}
