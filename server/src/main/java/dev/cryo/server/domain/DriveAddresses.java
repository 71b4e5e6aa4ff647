package dev.cryo.server.domain;

import dev.cryo.server.error.InvalidArgumentException;
import java.util.HashMap;
import java.util.Map;

/**
 * Checks and fills in the {@code <address type='drive'/>} of every disk on an IDE, SATA or SCSI
 * bus, as libvirt does when it parses a domain ({@code virDomainDiskDefAssignAddress}): from the
 * target name's index ({@code hda} 0, {@code hdb} 1, ... {@code sdaa} 26),
 *
 * <ul>
 *   <li>IDE (the PIIX3's controller on {@code pc}): bus {@code index / 2}, unit {@code index % 2},
 *       so {@code hdc} is the secondary master ({@code bus='1' unit='0'});
 *   <li>SATA (the ICH9's AHCI on {@code q35}): bus 0, unit {@code index % 6}, one port per disk;
 *   <li>SCSI (a {@code virtio-scsi} controller): target 0, unit (LUN) {@code index % 7}.
 * </ul>
 *
 * Only the machine's own controller (index 0) is modelled, so the names run {@code hda}-{@code
 * hdd}, {@code sda}-{@code sdf} (SATA) and {@code sda}-{@code sdg} (SCSI).
 */
final class DriveAddresses {
  private DriveAddresses() {}

  /**
   * Checks each non-virtio disk's bus against the machine, gives it libvirt's drive address when
   * it has none, and refuses two disks at one address.
   */
  static void validate(DomainDef def) {
    boolean q35 = PciAddresses.isQ35(def.machine());
    boolean pc = PciAddresses.isPc(def.machine()) && !q35;
    Map<String, String> taken = new HashMap<>();
    for (DiskDef disk : def.disks()) {
      String bus = disk.getTargetBus();
      if (bus.equals("virtio")) {
        continue;
      }
      String label = "disk " + disk.getTargetDev();
      if (bus.equals("ide") && !pc) {
        // libvirt: "IDE controllers are unsupported for this QEMU binary or machine type"
        throw new InvalidArgumentException(label + ": bus 'ide' needs the PIIX3 of machine 'pc';"
            + " on q35 use bus='sata' (target dev sda, sdb, ...)");
      }
      if (bus.equals("sata") && !q35) {
        throw new InvalidArgumentException(label + ": bus 'sata' needs the ICH9 AHCI of machine "
            + "'q35'; on pc use bus='ide' (target dev hda, hdb, hdc, hdd)");
      }
      if (bus.equals("scsi") && def.getDevices().getControllers().stream().noneMatch(
          c -> "scsi".equals(c.getType()) && "virtio-scsi".equals(c.getModel())
              && c.index() == 0)) {
        throw new InvalidArgumentException(label + ": bus 'scsi' needs a SCSI controller; add "
            + "<controller type='scsi' index='0' model='virtio-scsi'/>");
      }
      String prefix = bus.equals("ide") ? "hd" : "sd";
      int units = bus.equals("ide") ? 4 : bus.equals("sata") ? 6 : 7;
      int index = nameIndex(disk.getTargetDev(), prefix);
      if (index < 0 || index >= units) {
        throw new InvalidArgumentException(label + ": a disk on bus '" + bus + "' is named "
            + prefix + "a to " + prefix + (char) ('a' + units - 1) + " (its position on the "
            + "controller), not '" + disk.getTargetDev() + "'");
      }
      DeviceAddress a = disk.getAddress();
      if (a == null) {
        a = bus.equals("ide") ? DeviceAddress.drive(0, index / 2, 0, index % 2)
            : DeviceAddress.drive(0, 0, 0, index);
        disk.address = a;
      } else {
        check(a, bus, label);
      }
      String other = taken.put(bus + " " + a, label);
      if (other != null) {
        throw new InvalidArgumentException(label + ": address " + a + " is also the address of "
            + other + "; give each disk its own unit");
      }
    }
  }

  private static void check(DeviceAddress a, String bus, String label) {
    String what = label + ": address";
    if (!a.isDrive()) {
      throw new InvalidArgumentException(what + " type '" + a.type + "' is not supported; a "
          + "disk on bus '" + bus + "' has <address type='drive' controller='0' bus='0' "
          + "target='0' unit='0'/> (or leave <address> out and Cryo assigns one)");
    }
    a.controller = Integer.toString(number(a.controller, what + " controller", 0));
    a.bus = Integer.toString(number(a.bus, what + " bus", bus.equals("ide") ? 1 : 0));
    a.target = Integer.toString(number(a.target, what + " target", 0));
    a.unit = Integer.toString(number(a.unit, what + " unit",
        bus.equals("ide") ? 1 : bus.equals("sata") ? 5 : 6));
    a.domain = null;
    a.slot = null;
    a.function = null;
    a.multifunction = null;
  }

  private static int number(String text, String what, int max) {
    int value;
    try {
      value = text == null ? 0 : Integer.parseInt(text.strip());
    } catch (NumberFormatException e) {
      value = -1;
    }
    if (value < 0 || value > max) {
      throw new InvalidArgumentException(what + " '" + text + "' is not a number from 0 to "
          + max);
    }
    return value;
  }

  /**
   * libvirt's {@code virDiskNameToIndex}: {@code sda} 0, {@code sdz} 25, {@code sdaa} 26; -1 when
   * the name does not start with {@code prefix} or has anything but letters after it.
   */
  static int nameIndex(String name, String prefix) {
    if (!name.startsWith(prefix) || name.length() == prefix.length()) {
      return -1;
    }
    int index = 0;
    String letters = name.substring(prefix.length());
    for (int i = 0; i < letters.length(); i++) {
      char c = letters.charAt(i);
      if (c < 'a' || c > 'z' || index > 1_000_000) {
        return -1;
      }
      index = (index + (i == 0 ? 0 : 1)) * 26 + (c - 'a');
    }
    return index;
  }
}
