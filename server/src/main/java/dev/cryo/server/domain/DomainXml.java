package dev.cryo.server.domain;

import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.xml.SecureXml;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Reads and writes libvirt domain XML ({@code <domain>}) as a {@link DomainDef}. See {@link
 * DomainDef} for what is modelled, what is ignored with a warning and what is rejected.
 *
 * <p>{@link #parse} validates and fills in libvirt's defaults, so that {@link #format} of a parsed
 * definition re-parses to the same text with no warnings. Both are thread-safe.
 */
public final class DomainXml {
  private static final String WHAT = "domain";
  private static final Set<String> BOOT_DEVICES = Set.of("hd", "cdrom", "network", "fd");
  /** libvirt's {@code virDomainDiskDefParseXML} check on {@code <serial>}. */
  private static final Pattern SERIAL = Pattern.compile("[A-Za-z0-9_ .:+-]*");
  private static final List<String> CACHE_MODES =
      List.of("none", "writeback", "writethrough", "directsync", "unsafe");
  private static final List<String> IO_MODES = List.of("threads", "native", "io_uring");
  private static final List<String> DISCARD_MODES = List.of("unmap", "ignore");
  private static final List<String> DISK_BUSES = List.of("virtio", "sata", "ide", "scsi");
  private static final Pattern UUID_HEX = Pattern.compile("[0-9a-fA-F]{32}");
  private static final Pattern TARGET_DEV = Pattern.compile("[a-z][a-z0-9]{0,31}");
  private static final Pattern MAC = Pattern.compile("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}");
  private static final String OCTET = "(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])";
  private static final Pattern IPV4 = Pattern.compile("(" + OCTET + "\\.){3}" + OCTET);
  private static final List<String> NIC_MODELS = List.of("virtio", "e1000e", "e1000", "rtl8139");
  private static final List<String> VIDEO_MODELS = List.of("vga", "virtio", "cirrus", "none");
  private static final SecureRandom RANDOM = new SecureRandom();

  private DomainXml() {}

  /**
   * A parsed definition and what in the XML was ignored.
   *
   * @param def the validated definition, defaults filled in, memory in KiB
   * @param warnings one line per ignored element or attribute, in document order, e.g. {@code
   *     ignored element /domain/devices/interface (line 31)}; then one per value lowered as
   *     libvirt lowers it (a {@code <currentMemory>} above {@code <memory>})
   */
  public record Parsed(DomainDef def, List<String> warnings) {
    public Parsed {
      warnings = List.copyOf(warnings);
    }
  }

  /**
   * Parses and validates domain XML. A missing {@code <uuid>} gets a random one, as libvirt does
   * on define.
   *
   * @throws InvalidArgumentException if the XML is malformed, has a DTD, is not a {@code
   *     <domain>}, or has a value Cryo cannot honour; the message names the value
   */
  public static Parsed parse(String xml) {
    SecureXml.Unmarshalled<DomainDef> read =
        SecureXml.unmarshalReportingIgnored(xml, DomainDef.class, WHAT);
    DomainDef def = read.value();
    List<String> warnings = new ArrayList<>(read.warnings());
    normalize(def, warnings);
    return new Parsed(def, warnings);
  }

  /**
   * Parses XML that defines a domain: {@link #parse}, then what libvirt adds at define and keeps
   * in the stored XML, the root PCI controller, the default USB controller and balloon, and a
   * stable PCI address for every device without one (see {@link PciAddresses}). Not for an
   * image's XML, which must start the machine it was saved from.
   */
  public static Parsed parseDefinition(String xml) {
    Parsed parsed = parse(xml);
    PciAddresses.assign(parsed.def());
    return parsed;
  }

  /**
   * Writes {@code def} as libvirt-style XML (two-space indentation, no declaration, memory in
   * KiB, attribute values in double quotes). The definition is written as it is, not validated.
   */
  public static String format(DomainDef def) {
    return SecureXml.marshal(def);
  }

  // ---- validation and defaults ------------------------------------------------------------------

  private static void normalize(DomainDef def, List<String> warnings) {
    checkType(def.getType());
    if (def.getName() == null || def.getName().isBlank()) {
      throw new InvalidArgumentException("domain XML has no <name>; every domain needs one");
    }
    def.setUuid(normalizeUuid(def.getUuid()));
    def.getMetadata().forEach(DomainXml::stripIndentation);
    normalizeMemory(def, warnings);
    normalizeVcpu(def);
    normalizeOs(def.getOs());
    if (def.getFeatures() == null) {
      def.setFeatures(FeaturesDef.qemuDefaults());
    }
    if (def.getCpu() != null) {
      def.getCpu().normalize(def.vcpus());
    }
    normalizeLifecycle(def, warnings);
    normalizeDevices(def.getDevices());
    DriveAddresses.validate(def);
    PciAddresses.validate(def);
  }

  /**
   * libvirt's lifecycle actions with its QEMU driver's limits: {@code preserve} and {@code
   * rename-restart} are refused for power-off and reboot. A crash action other than destroy is
   * kept, with a warning: without a panic device, which Cryo does not model, the guest cannot
   * report a crash.
   */
  private static void normalizeLifecycle(DomainDef def, List<String> warnings) {
    def.setOnPoweroff(lifecycle(def.getOnPoweroff(), "on_poweroff", "destroy",
        List.of("destroy", "restart")));
    def.setOnReboot(lifecycle(def.getOnReboot(), "on_reboot", "restart",
        List.of("restart", "destroy")));
    def.setOnCrash(lifecycle(def.getOnCrash(), "on_crash", "destroy", List.of("destroy",
        "restart", "preserve", "coredump-destroy", "coredump-restart")));
    if (!def.getOnCrash().equals("destroy")) {
      warnings.add("on_crash " + def.getOnCrash() + " has no effect: the guest has no panic "
          + "device to report a crash with");
    }
  }

  private static String lifecycle(String value, String element, String dflt,
      List<String> allowed) {
    if (value == null) {
      return dflt;
    }
    String action = value.strip();
    if (!allowed.contains(action)) {
      throw new InvalidArgumentException("<" + element + "> '" + action + "' is not supported; "
          + "use " + String.join(" or ", allowed));
    }
    return action;
  }

  /**
   * Removes the whitespace between the child elements of metadata elements, so that it is
   * re-indented like the rest of the document instead of piling up on each round trip. Text in
   * elements without element children is kept as it is. Iterative: the depth is bounded by
   * SecureXml anyway, but a loop needs no stack.
   */
  private static void stripIndentation(Element root) {
    Deque<Node> pending = new ArrayDeque<>();
    pending.push(root);
    while (!pending.isEmpty()) {
      Node node = pending.pop();
      boolean hasElementChild = false;
      for (Node c = node.getFirstChild(); c != null; c = c.getNextSibling()) {
        if (c.getNodeType() == Node.ELEMENT_NODE) {
          hasElementChild = true;
          pending.push(c);
        }
      }
      if (!hasElementChild) {
        continue;
      }
      Node c = node.getFirstChild();
      while (c != null) {
        Node next = c.getNextSibling();
        if (c.getNodeType() == Node.TEXT_NODE && c.getNodeValue().isBlank()) {
          node.removeChild(c);
        }
        c = next;
      }
    }
  }

  private static void checkType(String type) {
    if (type == null) {
      throw new InvalidArgumentException(
          "domain XML has no type; use <domain type='kvm'> or <domain type='qemu'>");
    }
    if (!type.equals("kvm") && !type.equals("qemu")) {
      throw new InvalidArgumentException(
          "domain type '" + type + "' is not supported; use 'kvm' or 'qemu'");
    }
  }

  private static String normalizeUuid(String uuid) {
    if (uuid == null || uuid.isBlank()) {
      return UUID.randomUUID().toString();
    }
    String hex = uuid.strip().replace("-", "");
    if (!UUID_HEX.matcher(hex).matches()) {
      throw new InvalidArgumentException("domain uuid '" + uuid + "' is not a valid UUID; "
          + "use 32 hex digits such as 4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    }
    hex = hex.toLowerCase(Locale.ROOT);
    return hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
        + hex.substring(16, 20) + "-" + hex.substring(20);
  }

  private static void normalizeMemory(DomainDef def, List<String> warnings) {
    if (def.rawMemory() == null) {
      throw new InvalidArgumentException("domain XML has no <memory>; give the guest memory, "
          + "e.g. <memory unit='MiB'>512</memory>");
    }
    long memory = kib(def.rawMemory(), "memory");
    def.setRawMemory(DomainDef.Memory.ofKiB(memory));
    long current = def.rawCurrentMemory() == null ? 0 : kib(def.rawCurrentMemory(),
        "currentMemory");
    // libvirt's rule: no (or zero) current memory, or more than the maximum, means the maximum.
    if (current > memory) {
      warnings.add("<currentMemory> of " + current + " KiB is more than <memory> (" + memory
          + " KiB); lowered to " + memory + " KiB as libvirt does");
    }
    if (current == 0 || current > memory) {
      current = memory;
    }
    def.setRawCurrentMemory(DomainDef.Memory.ofKiB(current));
  }

  /**
   * The size in KiB, rounded up as libvirt does. {@code currentMemory} may be 0 (meaning "same as
   * memory"), {@code memory} may not.
   */
  private static long kib(DomainDef.Memory m, String element) {
    long scale = MemoryUnit.bytes(m.unit);
    if (scale < 0) {
      throw new InvalidArgumentException("<" + element + "> unit '" + m.unit + "' is not known; "
          + "use b, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)");
    }
    String text = m.value == null ? "" : m.value.strip();
    long value;
    try {
      value = Long.parseLong(text);
    } catch (NumberFormatException e) {
      if (text.matches("[0-9]+")) {
        throw new InvalidArgumentException("<" + element + "> of " + text + " " + m.unit
            + " is too large");
      }
      throw new InvalidArgumentException("<" + element + "> value '" + text
          + "' is not a number");
    }
    if (value < 0 || (value == 0 && element.equals("memory"))) {
      throw new InvalidArgumentException("<" + element + "> must be more than 0, got " + text);
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(value, scale);
    } catch (ArithmeticException e) {
      throw new InvalidArgumentException("<" + element + "> of " + text + " " + m.unit
          + " is too large");
    }
    long kib = bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1);
    if (kib > Long.MAX_VALUE / 1024) {
      throw new InvalidArgumentException("<" + element + "> of " + text + " " + m.unit
          + " is too large");
    }
    return kib;
  }

  private static void normalizeVcpu(DomainDef def) {
    DomainDef.Vcpu vcpu = def.rawVcpu();
    if (vcpu == null) {
      vcpu = new DomainDef.Vcpu();
      vcpu.count = "1";
      def.setRawVcpu(vcpu);
    }
    if (vcpu.placement == null) {
      vcpu.placement = "static";
    } else if (!vcpu.placement.equals("static")) {
      throw new InvalidArgumentException("vcpu placement '" + vcpu.placement
          + "' is not supported; use 'static'");
    }
    String text = vcpu.count == null ? "" : vcpu.count.strip();
    int count;
    try {
      count = Integer.parseInt(text);
    } catch (NumberFormatException e) {
      count = 0;
    }
    if (count < 1) {
      throw new InvalidArgumentException("<vcpu> '" + text + "' is not a positive number of CPUs");
    }
    vcpu.count = Integer.toString(count);
  }

  private static void normalizeOs(OsDef os) {
    if (os == null || os.getOsType() == null) {
      throw new InvalidArgumentException(
          "domain XML has no <os><type>hvm</type></os>; Cryo runs hvm guests");
    }
    String type = os.getOsType().strip();
    if (!type.equals("hvm")) {
      throw new InvalidArgumentException("os type '" + type + "' is not supported; use 'hvm'");
    }
    os.setOsType(type);
    requireAbsolute(os.getKernel(), "os kernel");
    requireAbsolute(os.getInitrd(), "os initrd");
    for (String dev : os.getBootDevices()) {
      if (dev == null || !BOOT_DEVICES.contains(dev)) {
        throw new InvalidArgumentException("boot device '" + dev
            + "' is not known; use hd, cdrom, network or fd");
      }
    }
  }

  private static void normalizeDevices(DevicesDef devices) {
    Set<String> targets = new HashSet<>();
    List<DiskDef> disks = devices.getDisks();
    for (int i = 0; i < disks.size(); i++) {
      DiskDef disk = disks.get(i);
      normalizeDisk(disk, i);
      if (!targets.add(disk.getTargetDev())) {
        throw new InvalidArgumentException("disk target '" + disk.getTargetDev()
            + "' is used by more than one disk; give each disk its own target dev");
      }
    }
    normalizeInterfaces(devices.getInterfaces());
    normalizeInputs(devices);
    normalizeVideos(devices.getVideos());
    normalizeRngs(devices.getRngs());
    normalizeCharDevices(devices.getSerials(), "serial");
    normalizeCharDevices(devices.getConsoles(), "console");
    DevicesDef.Memballoon balloon = devices.getMemballoon();
    if (balloon != null && !"none".equals(balloon.getModel())
        && !"virtio".equals(balloon.getModel())) {
      throw new InvalidArgumentException("memballoon model '" + balloon.getModel()
          + "' is not supported; use 'none' or 'virtio'");
    }
  }

  private static void normalizeDisk(DiskDef disk, int index) {
    String dev = disk.getTargetDev();
    if (dev == null) {
      throw new InvalidArgumentException("disk #" + (index + 1)
          + " has no <target dev='...'>; name it, e.g. <target dev='vda' bus='virtio'/>");
    }
    if (!TARGET_DEV.matcher(dev).matches()) {
      throw new InvalidArgumentException("disk target dev '" + dev
          + "' is not a device name such as vda");
    }
    String label = "disk " + dev + ": ";
    if (disk.getType() == null) {
      disk.setType("file");
    } else if (!disk.getType().equals("file") && !disk.getType().equals("block")) {
      throw new InvalidArgumentException(label + "type '" + disk.getType()
          + "' is not supported; use type='file' (an image) or type='block' (a host device)");
    }
    if (disk.getDevice() == null) {
      disk.setDevice("disk");
    } else if (!disk.getDevice().equals("disk") && !disk.getDevice().equals("cdrom")) {
      throw new InvalidArgumentException(label + "device '" + disk.getDevice()
          + "' is not supported; use device='disk' or device='cdrom'");
    }
    if (disk.getDriverName() == null) {
      disk.setDriverName("qemu");
    } else if (!disk.getDriverName().equals("qemu")) {
      throw new InvalidArgumentException(label + "driver name '" + disk.getDriverName()
          + "' is not supported; use 'qemu'");
    }
    if (disk.getFormat() == null) {
      disk.setFormat(DiskDef.RAW); // what libvirt's QEMU driver assumes without probing
    } else if (!disk.getFormat().equals(DiskDef.RAW) && !disk.getFormat().equals(DiskDef.QCOW2)) {
      throw new InvalidArgumentException(label + "driver type '" + disk.getFormat()
          + "' is not supported; use 'raw' or 'qcow2'");
    }
    if (disk.getTargetBus() == null) {
      // libvirt's default bus follows the name: hd* is IDE; Cryo's is virtio otherwise
      disk.setTargetBus(dev.startsWith("hd") ? "ide" : "virtio");
    } else if (!DISK_BUSES.contains(disk.getTargetBus())) {
      throw new InvalidArgumentException(label + "target bus '" + disk.getTargetBus()
          + "' is not supported; use 'virtio', 'sata' (q35), 'ide' (pc) or 'scsi' (with a "
          + "virtio-scsi controller)");
    }
    if (disk.isCdrom()) {
      if (disk.getTargetBus().equals("virtio")) {
        // libvirt refuses it too: virtio-blk has no removable media
        throw new InvalidArgumentException(label + "a cdrom cannot sit on bus 'virtio'; use "
            + "bus='sata' on q35, bus='ide' on pc, or bus='scsi'");
      }
      disk.setReadonly(true); // libvirt writes <readonly/> for every cdrom
    }
    // a cdrom without <source> has an empty tray: nothing to open until change-media
    boolean emptyTray = disk.isCdrom() && disk.getType().equals("file")
        && disk.getSourceFile() == null && disk.getSourceDev() == null;
    if (disk.getType().equals("block")) {
      if (disk.getSourceFile() != null || disk.getSourceDev() == null) {
        throw new InvalidArgumentException(label + "a type='block' disk needs <source dev='...'>"
            + " naming the host block device (use type='file' for <source file='...'>)");
      }
      requireAbsolute(disk.getSourceDev(), label + "source dev");
    } else if (!emptyTray) {
      if (disk.getSourceFile() == null) {
        throw new InvalidArgumentException(label + "no <source file='...'>; give the image's "
            + "absolute path" + (disk.getSourceDev() != null
                ? " (or use type='block' for <source dev='...'>)" : ""));
      }
      requireAbsolute(disk.getSourceFile(), label + "source file");
    }
    requireOneOf(disk.getCache(), CACHE_MODES, label + "driver cache");
    requireOneOf(disk.getIo(), IO_MODES, label + "driver io");
    requireOneOf(disk.getDiscard(), DISCARD_MODES, label + "driver discard");
    if ("native".equals(disk.getIo())
        && !"none".equals(disk.getCache()) && !"directsync".equals(disk.getCache())) {
      // libvirt refuses this too: Linux AIO needs O_DIRECT
      throw new InvalidArgumentException(label + "driver io='native' needs cache='none' or "
          + "cache='directsync'; set one of them or use io='threads'");
    }
    if (disk.getSerial() != null && !SERIAL.matcher(disk.getSerial()).matches()) {
      throw new InvalidArgumentException(label + "serial '" + disk.getSerial()
          + "' may hold only letters, digits and the characters _ . + - : and space");
    }
  }

  private static void requireOneOf(String value, List<String> allowed, String what) {
    if (value != null && !allowed.contains(value)) {
      throw new InvalidArgumentException(what + " '" + value + "' is not supported; use one of "
          + String.join(", ", allowed));
    }
  }

  private static void normalizeInterfaces(List<InterfaceDef> interfaces) {
    Set<String> macs = new HashSet<>();
    Set<String> hostPorts = new HashSet<>();
    for (int i = 0; i < interfaces.size(); i++) {
      InterfaceDef nic = interfaces.get(i);
      String label = "interface #" + (i + 1) + ": ";
      if (nic.type == null) {
        nic.type = "user"; // libvirt's default type
      } else if (!nic.type.equals("user")) {
        throw new InvalidArgumentException(label + "type '" + nic.type
            + "' is not supported; use type='user' (QEMU's user-mode network, with <portForward> "
            + "for host ports)");
      }
      if (nic.mac == null || nic.mac.address == null) {
        nic.mac = new InterfaceDef.Mac();
        nic.mac.address = generateMac();
      } else if (!MAC.matcher(nic.mac.address).matches()) {
        throw new InvalidArgumentException(label + "mac address '" + nic.mac.address
            + "' is not six hex pairs such as 52:54:00:12:34:56");
      } else if ((Integer.parseInt(nic.mac.address.substring(0, 2), 16) & 1) != 0) {
        throw new InvalidArgumentException(label + "mac address '" + nic.mac.address
            + "' is a multicast address; use a unicast one such as 52:54:00:12:34:56");
      }
      nic.mac.address = nic.mac.address.toLowerCase(Locale.ROOT);
      if (!macs.add(nic.mac.address)) {
        throw new InvalidArgumentException(label + "mac address " + nic.mac.address
            + " is used by another interface; give each its own or leave <mac> out");
      }
      if (nic.model == null || nic.model.type == null) {
        nic.model = new InterfaceDef.Model();
        nic.model.type = "rtl8139"; // libvirt's default on x86
      } else if (!NIC_MODELS.contains(nic.model.type)) {
        throw new InvalidArgumentException(label + "model '" + nic.model.type
            + "' is not supported; use one of " + String.join(", ", NIC_MODELS));
      }
      if (nic.link != null && !"up".equals(nic.link.state) && !"down".equals(nic.link.state)) {
        throw new InvalidArgumentException(label + "link state '" + nic.link.state
            + "' is not known; use 'up' or 'down'");
      }
      normalizeIps(nic, label);
      for (InterfaceDef.PortForward forward : nic.portForwards) {
        normalizePortForward(forward, label, hostPorts);
      }
    }
  }

  private static void normalizeIps(InterfaceDef nic, String label) {
    if (nic.ips.size() > 1) {
      throw new InvalidArgumentException(label + "has " + nic.ips.size()
          + " <ip> elements; QEMU's user network takes one IPv4 network");
    }
    for (InterfaceDef.Ip ip : nic.ips) {
      if (ip.family == null) {
        ip.family = "ipv4";
      } else if (!ip.family.equals("ipv4")) {
        throw new InvalidArgumentException(label + "ip family '" + ip.family
            + "' is not supported; use 'ipv4'");
      }
      if (ip.address == null || !IPV4.matcher(ip.address).matches()) {
        throw new InvalidArgumentException(label + "ip address '" + ip.address
            + "' is not an IPv4 address such as 10.0.3.0");
      }
      if (ip.prefix == null) {
        ip.prefix = "24";
      }
      int prefix = number(ip.prefix, label + "ip prefix", 1, 30);
      ip.prefix = Integer.toString(prefix);
    }
  }

  private static void normalizePortForward(InterfaceDef.PortForward forward, String label,
      Set<String> hostPorts) {
    String what = label + "portForward: ";
    if (!"tcp".equals(forward.proto) && !"udp".equals(forward.proto)) {
      throw new InvalidArgumentException(what + "proto '" + forward.proto
          + "' is not supported; use proto='tcp' or proto='udp'");
    }
    if (forward.address != null && !IPV4.matcher(forward.address).matches()) {
      throw new InvalidArgumentException(what + "address '" + forward.address
          + "' is not an IPv4 address; give the host address to listen on, such as 127.0.0.1, or "
          + "leave it out to listen on all");
    }
    if (forward.dev != null) {
      throw new InvalidArgumentException(what + "dev '" + forward.dev
          + "' is not supported by QEMU's user network; use address= to choose where the host "
          + "listens");
    }
    if (forward.ranges.isEmpty()) {
      throw new InvalidArgumentException(what + "has no <range start='...' to='...'/>");
    }
    for (InterfaceDef.Range range : forward.ranges) {
      if (range.exclude != null && !"no".equals(range.exclude)) {
        throw new InvalidArgumentException(what
            + "exclude ranges are not supported; list the ports to forward");
      }
      int start = number(range.start, what + "range start", 1, 65535);
      int end = range.end == null ? start : number(range.end, what + "range end", start, 65535);
      int to = range.to == null ? start : number(range.to, what + "range to", 1, 65535);
      if (to + (end - start) > 65535) {
        throw new InvalidArgumentException(what + "range " + start + "-" + end + " to " + to
            + " ends past guest port 65535");
      }
      for (int p = start; p <= end; p++) {
        if (!hostPorts.add(forward.proto + "/" + p)) {
          throw new InvalidArgumentException(what + "host " + forward.proto + " port " + p
              + " is forwarded twice; forward each host port once");
        }
      }
      range.start = Integer.toString(start);
      range.end = range.end == null ? null : Integer.toString(end);
      range.to = range.to == null ? null : Integer.toString(to);
      range.exclude = null;
    }
  }

  private static int number(String text, String what, int min, int max) {
    int value;
    try {
      value = Integer.parseInt(text == null ? "" : text.strip());
    } catch (NumberFormatException e) {
      value = Integer.MIN_VALUE;
    }
    if (value < min || value > max) {
      throw new InvalidArgumentException(what + " '" + text + "' is not a number from " + min
          + " to " + max);
    }
    return value;
  }

  /** A MAC address in QEMU's locally administered range 52:54:00, as libvirt generates. */
  private static String generateMac() {
    byte[] tail = new byte[3];
    RANDOM.nextBytes(tail);
    return String.format("52:54:00:%02x:%02x:%02x", tail[0] & 0xff, tail[1] & 0xff,
        tail[2] & 0xff);
  }

  /** A USB tablet (what virt-install adds); the PS/2 mouse and keyboard are the machine's. */
  private static void normalizeInputs(DevicesDef devices) {
    Set<String> ports = new HashSet<>();
    for (DevicesDef.Input input : devices.getInputs()) {
      String what = "input type='" + input.type + "' bus='" + input.bus + "'";
      boolean ps2 = "ps2".equals(input.bus)
          && ("mouse".equals(input.type) || "keyboard".equals(input.type));
      if (ps2) {
        continue;
      }
      if (!"tablet".equals(input.type) || (input.bus != null && !"usb".equals(input.bus))) {
        throw new InvalidArgumentException(what + " is not supported; use <input type='tablet' "
            + "bus='usb'/> (the PS/2 mouse and keyboard are always there)");
      }
      input.bus = "usb";
      if ("none".equals(devices.usbControllerModel())) {
        throw new InvalidArgumentException("input type='tablet' bus='usb' needs a USB "
            + "controller, but <controller type='usb' model='none'/> removes it");
      }
      if (input.address != null) {
        if (!"usb".equals(input.address.type)) {
          throw new InvalidArgumentException(what + ": address type '" + input.address.type
              + "' is not supported; use <address type='usb' bus='0' port='1'/>");
        }
        number(input.address.bus == null ? "0" : input.address.bus, what + " address bus", 0, 0);
        int port = number(input.address.port, what + " address port", 1, 15);
        input.address.bus = "0";
        input.address.port = Integer.toString(port);
        if (!ports.add(input.address.port)) {
          throw new InvalidArgumentException(what + ": USB port " + port + " is taken by "
              + "another device; give each its own");
        }
      }
    }
    int next = 1;
    for (DevicesDef.Input input : devices.getInputs()) {
      if ("usb".equals(input.bus) && input.address == null) {
        while (ports.contains(Integer.toString(next))) {
          next++;
        }
        input.address = new DevicesDef.UsbAddress();
        input.address.type = "usb";
        input.address.bus = "0";
        input.address.port = Integer.toString(next);
        ports.add(input.address.port);
      }
    }
  }

  /** One video card, with libvirt's defaults written in; {@code none} means no card. */
  private static void normalizeVideos(List<DevicesDef.Video> videos) {
    if (videos.size() > 1) {
      throw new InvalidArgumentException("the guest has " + videos.size() + " <video> cards; "
          + "Cryo gives it one");
    }
    for (DevicesDef.Video video : videos) {
      if (video.model == null) {
        video.model = new DevicesDef.VideoModel();
      }
      DevicesDef.VideoModel m = video.model;
      if (m.type == null) {
        m.type = "vga";
      }
      if (!VIDEO_MODELS.contains(m.type)) {
        throw new InvalidArgumentException("video model '" + m.type + "' is not supported; use "
            + String.join(", ", VIDEO_MODELS));
      }
      if (m.type.equals("none")) {
        m.vram = null;
        m.heads = null;
        m.primary = null;
        continue;
      }
      if (!m.type.equals("virtio")) {
        m.vram = Integer.toString(m.vram == null ? 16384
            : number(m.vram, "video vram (KiB)", 1024, 262144));
      }
      m.heads = Integer.toString(m.heads == null ? 1 : number(m.heads, "video heads", 1, 1));
      m.primary = "yes";
    }
  }

  /** virtio entropy sources fed from the host's random devices. */
  private static void normalizeRngs(List<DevicesDef.Rng> rngs) {
    for (DevicesDef.Rng rng : rngs) {
      if (!"virtio".equals(rng.model)) {
        throw new InvalidArgumentException("rng model '" + rng.model
            + "' is not supported; use <rng model='virtio'>");
      }
      if (rng.backend == null) {
        rng.backend = new DevicesDef.RngBackend();
      }
      if (rng.backend.model == null) {
        rng.backend.model = "random";
      } else if (!rng.backend.model.equals("random")) {
        throw new InvalidArgumentException("rng backend model '" + rng.backend.model
            + "' is not supported; use <backend model='random'>/dev/urandom</backend>");
      }
      String source = rng.backend.source == null || rng.backend.source.isBlank()
          ? "/dev/urandom" : rng.backend.source.strip();
      if (!source.equals("/dev/urandom") && !source.equals("/dev/random")) {
        throw new InvalidArgumentException("rng backend '" + source + "' is not supported; use "
            + "/dev/urandom or /dev/random");
      }
      rng.backend.source = source;
    }
  }

  private static void normalizeCharDevices(List<DevicesDef.CharDevice> devices, String kind) {
    for (DevicesDef.CharDevice device : devices) {
      if (device.getType() == null) {
        device.setType("pty");
      } else if (!device.getType().equals("pty")) {
        throw new InvalidArgumentException(kind + " type '" + device.getType()
            + "' is not supported; use 'pty' (the guest always gets one serial port, ttyS0)");
      }
    }
  }

  private static void requireAbsolute(String path, String what) {
    if (path != null && !path.startsWith("/")) {
      throw new InvalidArgumentException(what + " '" + path + "' is not an absolute path");
    }
  }

  /** libvirt's memory units (virScaleInteger): case-insensitive, KiB when none is given. */
  static final class MemoryUnit {
    private static final String POWERS = "kmgtpe";

    private MemoryUnit() {}

    /** Bytes per unit, or -1 if the unit is not known. */
    static long bytes(String unit) {
      if (unit == null || unit.isEmpty()) {
        return 1024;
      }
      String u = unit.toLowerCase(Locale.ROOT);
      if (u.equals("b") || u.equals("byte") || u.equals("bytes")) {
        return 1;
      }
      int power = POWERS.indexOf(u.charAt(0)) + 1;
      if (power == 0) {
        return -1;
      }
      long base;
      String suffix = u.substring(1);
      if (suffix.isEmpty() || suffix.equals("ib")) {
        base = 1024;
      } else if (suffix.equals("b")) {
        base = 1000;
      } else {
        return -1;
      }
      long scale = 1;
      for (int i = 0; i < power; i++) {
        scale *= base;
      }
      return scale;
    }
  }
}
