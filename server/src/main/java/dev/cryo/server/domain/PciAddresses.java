package dev.cryo.server.domain;

import dev.cryo.server.error.InvalidArgumentException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Checks the PCI addresses and PCI/USB controllers of a definition ({@link #validate}, on every
 * parse) and, at define, gives every PCI device that has none a stable address, libvirt's way
 * ({@link #assign}), so that the same XML gives the same machine on any host and a save image
 * keeps restoring after unrelated edits to the definition.
 *
 * <p>The layout is the one libvirt 9 writes for the same XML:
 *
 * <ul>
 *   <li>{@code pc} (i440fx): one {@code pci-root} bus; slot 0 is the host bridge and slot 1 the
 *       PIIX3 (ISA, IDE, and the {@code piix3-uhci} USB controller at 01.2); devices take the
 *       free slots from 2 up, network cards first, then controllers, disks and the balloon.
 *   <li>{@code q35}: a {@code pcie-root} bus with the ICH9 at slot 0x1f (its SATA controller at
 *       1f.2); every PCI Express device gets a {@code pcie-root-port} of its own (the ports are
 *       functions of slots 1, 2, ... of the root bus, the device sits at slot 0 behind its port),
 *       in the same device order, and one port is left free for a device added later.
 *       Conventional PCI cards ({@code e1000}, {@code rtl8139}) go on the root bus, where libvirt
 *       would add a PCIe-to-PCI bridge.
 * </ul>
 *
 * Definitions on other machine types, and images whose XML has no addresses (written before
 * Cryo assigned them), keep QEMU's own placement: a device without an address gets none on the
 * command line.
 */
public final class PciAddresses {
  private static final Set<String> PCI_NIC_MODELS = Set.of("e1000", "rtl8139");
  private static final int SLOTS = 32;
  private static final int FUNCTIONS = 8;
  private static final int ICH9_SLOT = 0x1f;

  private PciAddresses() {}

  /** Whether the machine is a q35 one ({@code q35}, {@code pc-q35-7.2}, ...). */
  static boolean isQ35(String machine) {
    return machine != null && (machine.equals("q35") || machine.startsWith("pc-q35"));
  }

  /** Whether Cryo lays out this machine's PCI buses ({@code pc} and {@code q35} families). */
  static boolean isPc(String machine) {
    return machine == null || machine.equals("pc") || machine.startsWith("pc-i440fx")
        || isQ35(machine);
  }

  /**
   * Checks the controllers and every address given, writes them in libvirt's hex form, and
   * fills in the USB controller's model.
   *
   * @throws InvalidArgumentException naming the device when an address or controller cannot be
   *     honoured
   */
  static void validate(DomainDef def) {
    boolean q35 = isQ35(def.machine());
    DevicesDef devices = def.getDevices();
    Map<Integer, DevicesDef.Controller> buses = new HashMap<>();
    boolean usb = false;
    for (DevicesDef.Controller c : devices.getControllers()) {
      String label = "controller type='" + c.getType() + "'";
      c.index = Integer.toString(number(c.index == null ? "0" : c.index, label + " index", 0,
          255));
      if ("usb".equals(c.getType())) {
        if (usb) {
          throw new InvalidArgumentException("more than one USB controller; give the guest one");
        }
        usb = true;
        if (c.getModel() == null) {
          c.setModel(q35 ? "qemu-xhci" : "piix3-uhci");
        } else if (!List.of("none", "piix3-uhci", "qemu-xhci").contains(c.getModel())) {
          throw new InvalidArgumentException(label + " model '" + c.getModel()
              + "' is not supported; use 'qemu-xhci', 'piix3-uhci' or 'none'");
        }
      } else if ("scsi".equals(c.getType())) {
        if (!"virtio-scsi".equals(c.getModel())) {
          throw new InvalidArgumentException(label + " model '" + c.getModel() + "' is not "
              + "supported; use model='virtio-scsi'");
        }
        if (c.index() != 0) {
          throw new InvalidArgumentException(label + " index " + c.index() + ": Cryo models one "
              + "SCSI controller, index 0");
        }
      } else if ("pci".equals(c.getType())) {
        checkPciController(c, q35, label);
        if (buses.put(c.index(), c) != null) {
          throw new InvalidArgumentException("two PCI controllers have index " + c.index()
              + "; give each its own");
        }
      }
    }
    Map<String, String> taken = new HashMap<>();
    for (Device d : devices(def)) {
      if (d.address() != null) {
        check(d, q35, buses, taken);
      }
    }
  }

  private static void checkPciController(DevicesDef.Controller c, boolean q35, String label) {
    String root = q35 ? "pcie-root" : "pci-root";
    if (c.getModel() == null) {
      c.setModel(c.index() == 0 ? root : "pcie-root-port");
    }
    if (c.index() == 0) {
      if (!c.getModel().equals(root)) {
        throw new InvalidArgumentException("PCI controller index 0 on this machine is '" + root
            + "', not '" + c.getModel() + "'");
      }
      return;
    }
    if (!q35 || !isPort(c) && !isBridge(c)) {
      throw new InvalidArgumentException(label + " model '" + c.getModel() + "' is not supported"
          + (q35 ? "; use 'pcie-root-port' or 'pcie-to-pci-bridge'" : " on an i440fx machine; "
          + "devices sit on its root bus, or use machine='q35' for PCI Express root ports"));
    }
    if (c.modelName == null) {
      c.modelName = new DevicesDef.ModelName();
    }
    c.modelName.name = isPort(c) ? "pcie-root-port" : "pcie-pci-bridge";
    if (c.getAddress() != null && c.getAddress().bus != null
        && number(c.getAddress().bus, label + " address bus", 0, 255) >= c.index()) {
      throw new InvalidArgumentException("PCI controller index " + c.index() + " sits on bus "
          + c.getAddress().bus + "; a controller's index must be above its parent bus's");
    }
    if (isPort(c) && c.target != null) {
      String what = "pcie-root-port index " + c.index();
      if (c.target.chassis != null) {
        c.target.chassis = Integer.toString(number(c.target.chassis, what + " chassis", 0, 255));
      }
      if (c.target.port != null) {
        c.target.port = String.format("0x%x", number(c.target.port, what + " port", 0, 255));
      }
    }
  }

  private static void check(Device d, boolean q35, Map<Integer, DevicesDef.Controller> buses,
      Map<String, String> taken) {
    DeviceAddress a = d.address();
    String what = d.label() + ": address";
    if (!"pci".equals(a.type)) {
      throw new InvalidArgumentException(what + " type '" + a.type + "' is not supported; "
          + "this device sits on PCI: <address type='pci' bus='0x00' slot='0x03' function='0x0'/>"
          + " (or leave <address> out and Cryo assigns one)");
    }
    number(a.domain == null ? "0" : a.domain, what + " domain", 0, 0);
    int bus = number(a.bus == null ? "0" : a.bus, what + " bus", 0, 255);
    int slot = number(a.slot, what + " slot", 0, SLOTS - 1);
    int function = number(a.function == null ? "0" : a.function, what + " function", 0,
        FUNCTIONS - 1);
    if (a.multifunction != null && !a.multifunction.equals("on")
        && !a.multifunction.equals("off")) {
      throw new InvalidArgumentException(what + " multifunction '" + a.multifunction
          + "' is not 'on' or 'off'");
    }
    DeviceAddress normal = DeviceAddress.pci(bus, slot, function, "on".equals(a.multifunction));
    a.domain = normal.domain;
    a.bus = normal.bus;
    a.slot = normal.slot;
    a.function = normal.function;
    a.multifunction = normal.multifunction;
    if (bus != 0) {
      DevicesDef.Controller parent = buses.get(bus);
      if (parent == null) {
        throw new InvalidArgumentException(what + " " + a + " is on bus " + bus
            + ", which no <controller type='pci' index='" + bus + "'> provides");
      }
      if (isPort(parent) && slot != 0) {
        throw new InvalidArgumentException(what + " " + a + " is behind a PCIe root port, "
            + "which has one slot: use slot='0x00'");
      }
      if (isBridge(parent) && slot == 0) {
        throw new InvalidArgumentException(what + " " + a + " is on a PCIe-to-PCI bridge, "
            + "whose slots are 0x01 to 0x1f");
      }
    } else if (slot == 0 || (!q35 && slot == 1 && d.piix3() == 0) || (q35 && slot == ICH9_SLOT
        && !d.ich9())) {
      throw new InvalidArgumentException(what + " " + a + " belongs to the machine's own "
          + (slot == 0 ? "host bridge" : q35 ? "ICH9 chipset" : "PIIX3 chipset")
          + "; choose another slot, or leave <address> out and Cryo assigns one");
    }
    String other = taken.put(a.toString(), d.label());
    if (other != null) {
      throw new InvalidArgumentException(what + " " + a + " is also the address of " + other
          + "; give each device its own");
    }
  }

  /**
   * Completes a validated definition as libvirt does at define: the root PCI controller, the
   * default USB controller and balloon, and an address for every PCI device without one.
   * Addresses already given are kept, so defining the result again changes nothing.
   */
  static void assign(DomainDef def) {
    if (!isPc(def.machine())) {
      return;
    }
    boolean q35 = isQ35(def.machine());
    DevicesDef devices = def.getDevices();
    List<DevicesDef.Controller> controllers = devices.getControllers();
    if (controllers.stream().noneMatch(c -> "usb".equals(c.getType()))) {
      DevicesDef.Controller usb = new DevicesDef.Controller("usb", q35 ? "qemu-xhci"
          : "piix3-uhci");
      usb.index = "0";
      controllers.add(0, usb);
    }
    if (q35 && controllers.stream().noneMatch(c -> "sata".equals(c.getType()))) {
      DevicesDef.Controller sata = new DevicesDef.Controller("sata", null);
      sata.index = "0";
      controllers.add(1, sata);
    }
    if (controllers.stream().noneMatch(c -> "pci".equals(c.getType()) && c.index() == 0)) {
      DevicesDef.Controller root = new DevicesDef.Controller("pci", q35 ? "pcie-root"
          : "pci-root");
      root.index = "0";
      controllers.add(root);
    }
    if (!q35 && def.disks().stream().anyMatch(d -> "ide".equals(d.getTargetBus()))
        && controllers.stream().noneMatch(c -> "ide".equals(c.getType()))) {
      DevicesDef.Controller ide = new DevicesDef.Controller("ide", null); // the PIIX3's own
      ide.index = "0";
      controllers.add(ide);
    }
    if (devices.getMemballoon() == null) {
      devices.setMemballoon(new DevicesDef.Memballoon("virtio"));
    }
    Layout layout = new Layout(q35, controllers);
    for (Device d : devices(def)) {
      if (d.address() != null) {
        layout.take(d.address());
      }
    }
    for (Device d : devices(def)) {
      if (d.address() == null) {
        d.setAddress(layout.place(d));
      }
    }
    if (q35 && layout.addedPorts && layout.freePorts().isEmpty()) {
      layout.newPort(); // libvirt leaves one port free for a device added later
    }
    for (DevicesDef.Controller c : controllers) {
      if (isPort(c) && c.target == null) {
        c.target = new DevicesDef.PortTarget();
      }
      if (isPort(c) && c.target.chassis == null) {
        c.target.chassis = c.index;
      }
      if (isPort(c) && c.target.port == null && c.getAddress().bus() == 0) {
        c.target.port = String.format("0x%x",
            c.getAddress().slot() * FUNCTIONS + c.getAddress().function());
      }
    }
  }

  /**
   * Gives a restore's replacement XML the image's PCI layout where it names none (libvirt's
   * dumpxml has it, a hand-written replacement may not), and lists where the two differ: the
   * saved machine's devices must stay where they were. Devices are matched by disk target, by
   * network card order, and by controller type and index.
   *
   * @return one line per difference, e.g. {@code disk vda address 00:05.0 != 00:04.0}
   */
  public static List<String> inherit(DomainDef image, DomainDef replacement) {
    List<String> diffs = new ArrayList<>();
    DevicesDef from = image.getDevices();
    DevicesDef to = replacement.getDevices();
    for (DevicesDef.Controller c : from.getControllers()) {
      DevicesDef.Controller match = to.getControllers().stream()
          .filter(x -> c.getType().equals(x.getType()) && x.index() == c.index())
          .findFirst().orElse(null);
      if (match == null && "pci".equals(c.getType()) && c.index() > 0) {
        to.getControllers().add(c);
      } else if (match != null) {
        match.address = inherit(c.getAddress(), match.getAddress(),
            "controller " + c.getType() + " " + c.index(), diffs);
      }
    }
    for (DiskDef disk : to.getDisks()) {
      from.getDisks().stream().filter(d -> d.getTargetDev().equals(disk.getTargetDev()))
          .findFirst().ifPresent(d -> disk.address = inherit(d.getAddress(), disk.getAddress(),
              "disk " + disk.getTargetDev(), diffs));
    }
    for (int i = 0; i < Math.min(from.getInterfaces().size(), to.getInterfaces().size()); i++) {
      InterfaceDef nic = to.getInterfaces().get(i);
      nic.address = inherit(from.getInterfaces().get(i).getAddress(), nic.getAddress(),
          "interface #" + (i + 1), diffs);
    }
    if (from.getMemballoon() != null && to.getMemballoon() != null) {
      to.getMemballoon().address = inherit(from.getMemballoon().getAddress(),
          to.getMemballoon().getAddress(), "memballoon", diffs);
    }
    return diffs;
  }

  private static DeviceAddress inherit(DeviceAddress image, DeviceAddress replacement,
      String what, List<String> diffs) {
    if (replacement == null) {
      return image;
    }
    if (image != null && !image.toString().equals(replacement.toString())) {
      diffs.add(what + " address " + replacement + " != " + image);
    }
    return replacement;
  }

  /**
   * Which buses and slots are taken, and the root ports: a device without an address takes a free
   * port before a new one is made.
   */
  private static final class Layout {
    private final boolean q35;
    private final List<DevicesDef.Controller> controllers;
    private final Map<Integer, boolean[]> used = new HashMap<>();
    boolean addedPorts;

    Layout(boolean q35, List<DevicesDef.Controller> controllers) {
      this.q35 = q35;
      this.controllers = controllers;
      boolean[] root = functions(0);
      root[0] = true; // host bridge
      int chipset = q35 ? ICH9_SLOT : 1;
      for (int f = 0; f < FUNCTIONS; f++) {
        root[chipset * FUNCTIONS + f] = true;
      }
    }

    private boolean[] functions(int bus) {
      return used.computeIfAbsent(bus, b -> new boolean[SLOTS * FUNCTIONS]);
    }

    void take(DeviceAddress a) {
      functions(a.bus())[a.slot() * FUNCTIONS + a.function()] = true;
    }

    /** An address for a device that has none; PCI controllers get theirs first. */
    DeviceAddress place(Device d) {
      if (d.piix3() != 0) {
        return DeviceAddress.pci(0, 1, d.piix3(), false); // the PIIX3's IDE or USB function
      }
      if (d.ich9()) {
        return DeviceAddress.pci(0, ICH9_SLOT, 2, false);
      }
      if (d.controller() != null && isPort(d.controller())) {
        return portAddress();
      }
      if (!q35) {
        return onBus(0, 1);
      }
      if (d.label().equals("video")) {
        return onBus(0, 1); // the primary card sits on the root bus, as libvirt places it
      }
      if (d.conventionalPci()) {
        for (DevicesDef.Controller c : controllers) {
          if (isBridge(c) && hasFreeSlot(c.index(), 1)) {
            return onBus(c.index(), 1);
          }
        }
        return onBus(newBridge(), 1);
      }
      List<Integer> free = freePorts();
      return onBus(free.isEmpty() ? newPort() : free.get(0), 0);
    }

    /** Function 0 of the first free slot from {@code first} up on {@code bus}. */
    private DeviceAddress onBus(int bus, int first) {
      boolean[] slots = functions(bus);
      boolean port = bus != 0 && controllers.stream()
          .anyMatch(c -> isPort(c) && c.index() == bus);
      for (int slot = first; slot < (port ? 1 : SLOTS); slot++) {
        if (isFree(slots, slot)) {
          slots[slot * FUNCTIONS] = true;
          return DeviceAddress.pci(bus, slot, 0, false);
        }
      }
      throw new InvalidArgumentException("the guest has more PCI devices than bus " + bus
          + " has slots; use machine='q35', or fewer devices");
    }

    private boolean hasFreeSlot(int bus, int first) {
      boolean[] slots = functions(bus);
      for (int slot = first; slot < SLOTS; slot++) {
        if (isFree(slots, slot)) {
          return true;
        }
      }
      return false;
    }

    private static boolean isFree(boolean[] bus, int slot) {
      for (int f = 0; f < FUNCTIONS; f++) {
        if (bus[slot * FUNCTIONS + f]) {
          return false;
        }
      }
      return true;
    }

    /** Root ports with nothing behind them, in index order. */
    List<Integer> freePorts() {
      List<Integer> free = new ArrayList<>();
      for (DevicesDef.Controller c : controllers) {
        if (isPort(c) && isFree(functions(c.index()), 0)) {
          free.add(c.index());
        }
      }
      return free;
    }

    /** Adds a root port on the next free function of the root bus; returns its index. */
    int newPort() {
      DevicesDef.Controller port = newController("pcie-root-port", "pcie-root-port");
      port.address = portAddress();
      addedPorts = true;
      return port.index();
    }

    /** Adds a PCIe-to-PCI bridge behind a free root port; returns its index. */
    private int newBridge() {
      List<Integer> free = freePorts();
      int port = free.isEmpty() ? newPort() : free.get(0);
      DevicesDef.Controller bridge = newController("pcie-to-pci-bridge", "pcie-pci-bridge");
      bridge.address = onBus(port, 0);
      return bridge.index();
    }

    private DevicesDef.Controller newController(String model, String modelName) {
      int index = 1;
      int after = 0;
      for (int i = 0; i < controllers.size(); i++) {
        DevicesDef.Controller c = controllers.get(i);
        if ("pci".equals(c.getType())) {
          index = Math.max(index, c.index() + 1);
          after = i + 1;
        }
      }
      if (index > 255) {
        throw new InvalidArgumentException("the guest needs more than 255 PCI buses; use fewer "
            + "devices");
      }
      DevicesDef.Controller c = new DevicesDef.Controller("pci", model);
      c.index = Integer.toString(index);
      c.modelName = new DevicesDef.ModelName();
      c.modelName.name = modelName;
      controllers.add(after, c);
      return c;
    }

    /**
     * The next free function of the root bus from slot 1 up, in a slot that holds only root
     * ports; libvirt marks function 0 multifunction as soon as ports fill a slot from its start.
     */
    private DeviceAddress portAddress() {
      boolean[] root = functions(0);
      for (int slot = 1; slot < SLOTS; slot++) {
        if (!portsOnlyIn(slot)) {
          continue;
        }
        for (int f = 0; f < FUNCTIONS; f++) {
          if (!root[slot * FUNCTIONS + f]) {
            root[slot * FUNCTIONS + f] = true;
            if (f == 1) {
              portAt(slot, 0).address.multifunction = "on";
            }
            return DeviceAddress.pci(0, slot, f, f == 0);
          }
        }
      }
      throw new InvalidArgumentException("the guest has more PCI Express devices than the root "
          + "bus has ports for; use fewer devices");
    }

    /** Whether every used function of root bus slot {@code slot} is a root port. */
    private boolean portsOnlyIn(int slot) {
      boolean[] root = functions(0);
      for (int f = 0; f < FUNCTIONS; f++) {
        if (root[slot * FUNCTIONS + f] && portAt(slot, f) == null) {
          return false;
        }
      }
      return true;
    }

    private DevicesDef.Controller portAt(int slot, int function) {
      for (DevicesDef.Controller c : controllers) {
        DeviceAddress a = c.getAddress();
        if (isPort(c) && a != null && a.bus() == 0 && a.slot() == slot
            && a.function() == function) {
          return c;
        }
      }
      return null;
    }
  }

  private static boolean isPort(DevicesDef.Controller c) {
    return "pci".equals(c.getType()) && "pcie-root-port".equals(c.getModel());
  }

  private static boolean isBridge(DevicesDef.Controller c) {
    return "pci".equals(c.getType()) && "pcie-to-pci-bridge".equals(c.getModel());
  }

  /**
   * The devices that sit on PCI, in libvirt's assignment order: the video card, PCI controllers
   * written in the XML, network cards, other controllers, disks, the balloon, rngs.
   */
  private static List<Device> devices(DomainDef def) {
    boolean q35 = isQ35(def.machine());
    DevicesDef devices = def.getDevices();
    List<Device> all = new ArrayList<>();
    for (DevicesDef.Video video : devices.getVideos()) {
      if (!"none".equals(video.type())) {
        all.add(new Device("video", video.getAddress(), a -> video.address = a, true, 0,
            false, null));
      }
    }
    for (DevicesDef.Controller c : devices.getControllers()) {
      if ("pci".equals(c.getType()) && c.index() > 0) {
        all.add(new Device("PCI controller index " + c.index(), c.getAddress(),
            a -> c.address = a, false, 0, false, c));
      }
    }
    List<InterfaceDef> nics = devices.getInterfaces();
    for (int i = 0; i < nics.size(); i++) {
      InterfaceDef nic = nics.get(i);
      all.add(new Device("interface #" + (i + 1), nic.getAddress(), a -> nic.address = a,
          PCI_NIC_MODELS.contains(nic.getModel()), 0, false, null));
    }
    for (DevicesDef.Controller c : devices.getControllers()) {
      boolean usb = "usb".equals(c.getType()) && !"none".equals(c.getModel());
      boolean sata = q35 && "sata".equals(c.getType()) && c.index() == 0;
      boolean ide = !q35 && "ide".equals(c.getType()) && c.index() == 0;
      boolean scsi = "scsi".equals(c.getType());
      // the PIIX3's own functions: IDE at 01.1, USB at 01.2
      int piix3 = q35 ? 0 : usb && "piix3-uhci".equals(c.getModel()) ? 2 : ide ? 1 : 0;
      if (usb || sata || ide || scsi
          || (!"pci".equals(c.getType()) && c.getAddress() != null)) {
        all.add(new Device("controller type='" + c.getType() + "' index='" + c.index() + "'",
            c.getAddress(), a -> c.address = a, false, piix3, sata, null));
      }
    }
    for (DiskDef disk : devices.getDisks()) {
      if (!"virtio".equals(disk.getTargetBus())) {
        continue; // on a controller: a drive address, see DriveAddresses
      }
      all.add(new Device("disk " + disk.getTargetDev(), disk.getAddress(),
          a -> disk.address = a, false, 0, false, null));
    }
    DevicesDef.Memballoon balloon = devices.getMemballoon();
    if (balloon != null && !"none".equals(balloon.getModel())) {
      all.add(new Device("memballoon", balloon.getAddress(), a -> balloon.address = a, false,
          0, false, null));
    }
    List<DevicesDef.Rng> rngs = devices.getRngs();
    for (int i = 0; i < rngs.size(); i++) {
      DevicesDef.Rng rng = rngs.get(i);
      all.add(new Device("rng #" + (i + 1), rng.getAddress(), a -> rng.address = a, false, 0,
          false, null));
    }
    return all;
  }

  /**
   * One device that sits on PCI.
   *
   * @param conventionalPci a PCI (not PCI Express) device
   * @param piix3 the PIIX3 function this device is on i440fx (1 IDE, 2 USB), or 0
   * @param ich9 the ICH9's SATA function, at 1f.2 on q35
   * @param controller the PCI controller this device is, or null
   */
  private record Device(String label, DeviceAddress address,
      Consumer<DeviceAddress> setter, boolean conventionalPci, int piix3,
      boolean ich9, DevicesDef.Controller controller) {
    void setAddress(DeviceAddress a) {
      setter.accept(a);
    }
  }

  private static int number(String text, String what, int min, int max) {
    int value;
    try {
      value = Integer.decode(text == null ? "" : text.strip());
    } catch (NumberFormatException e) {
      value = Integer.MIN_VALUE;
    }
    if (value < min || value > max) {
      throw new InvalidArgumentException(what + " '" + text + "' is not a number from " + min
          + " to " + max + (max > 9 ? String.format(" (0x%x)", max) : ""));
    }
    return value;
  }
}
