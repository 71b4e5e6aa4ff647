package dev.cryo.server.snapshot;

import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainNames;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotPlan.Request;
import dev.cryo.server.xml.SecureXml;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes {@code <domainsnapshot>} XML. {@link #parse} checks what can be checked without
 * the domain; {@link #align} fills in libvirt's defaults against the domain (one {@code <disk>}
 * per domain disk, generated overlay names, resolved memory) once {@link SnapshotPlan} has decided.
 */
public final class SnapshotXml {
  static final String WHAT = "domainsnapshot";
  private static final Set<String> STATES = Set.of("running", "paused", "shutoff",
      "disk-snapshot");

  private SnapshotXml() {}

  /**
   * Parses snapshot XML as libvirt does for create ({@code redefine=false}: state, parent,
   * creation time and domain are output-only and dropped) or for redefine (they are kept and
   * checked).
   *
   * @throws InvalidArgumentException naming the offending element or value
   */
  public static SnapshotDef parse(String xml, boolean redefine) {
    SnapshotDef def = SecureXml.unmarshal(xml, SnapshotDef.class, WHAT);
    if (def.name != null) {
      def.name = def.name.strip();
      DomainNames.check(def.name, "snapshot");
    }
    if (redefine) {
      if (def.name == null) {
        throw new InvalidArgumentException("a redefined snapshot needs a <name>");
      }
      if (def.state == null || !STATES.contains(def.state.strip())) {
        throw new InvalidArgumentException("a redefined snapshot needs <state> running, paused, "
            + "shutoff or disk-snapshot, got " + (def.state == null ? "none" : "'" + def.state
            + "'"));
      }
      def.state = def.state.strip();
      if (def.memory == null) {
        // libvirt's default for a redefined snapshot: memory with it if the domain was active.
        def.memory = new SnapshotDef.Memory();
        def.memory.snapshot = ("shutoff".equals(def.state) || "disk-snapshot".equals(def.state)
            ? Location.NO : Location.INTERNAL).xml();
      }
      if (def.parent != null && def.parent.name != null) {
        DomainNames.check(def.parent.name.strip(), "parent snapshot");
        def.parent.name = def.parent.name.strip();
      }
    } else {
      def.state = null;
      def.parent = null;
      def.creationTime = null;
      def.domain = null;
    }
    def.active = null;
    checkMemory(def);
    checkDisks(def);
    return def;
  }

  /** Writes libvirt-style XML (double-quoted attributes). */
  public static String format(SnapshotDef def) {
    return SecureXml.marshal(def);
  }

  /** The memory request: OMIT when there is no {@code <memory>}. */
  static Request memoryRequest(SnapshotDef def) {
    Location l = def.memoryLocation();
    return l == null ? Request.OMIT : Request.valueOf(l.name());
  }

  /**
   * The disk request: OMIT when no disk says {@code snapshot=}; else what they say, {@code no}
   * entries not counting when others say more.
   *
   * @throws InvalidArgumentException if internal and external are mixed
   */
  static Request diskRequest(SnapshotDef def) {
    return diskRequest(def, Integer.MAX_VALUE);
  }

  /**
   * The disk request for a domain with {@code domainDisks} disks: {@code no} only when every one of
   * them says so (an unlisted disk takes the default).
   */
  static Request diskRequest(SnapshotDef def, int domainDisks) {
    Set<Location> seen = new HashSet<>();
    for (SnapshotDef.Disk d : def.disks()) {
      if (d.location() != null) {
        seen.add(d.location());
      }
    }
    if (seen.contains(Location.INTERNAL) && seen.contains(Location.EXTERNAL)) {
      throw new InvalidArgumentException("invalid combination: disks mix snapshot='internal' and "
          + "snapshot='external'; make them all one or the other");
    }
    if (seen.contains(Location.INTERNAL)) {
      return Request.INTERNAL;
    }
    if (seen.contains(Location.EXTERNAL)) {
      return Request.EXTERNAL;
    }
    if (seen.contains(Location.NO)) {
      long listedNo = def.disks().stream().filter(d -> d.location() == Location.NO).count();
      return domainDisks == Integer.MAX_VALUE || listedNo >= domainDisks ? Request.NO
          : Request.OMIT;
    }
    return Request.OMIT;
  }

  /**
   * Fills in {@code def} for {@code domain} after the plan decided {@code memory} and {@code
   * disk}: sets {@code <memory>}, lists every domain disk in domain order (unlisted disks get
   * {@code disk}; a read-only disk gets {@code no}), names the overlay of each external disk
   * ({@code /dir/image.NAME} when not given, as libvirt does) and records the domain definition.
   *
   * @throws InvalidArgumentException if an entry names a disk the domain does not have
   * @throws FailedPreconditionException if an internal snapshot needs a disk that is not qcow2
   */
  static void align(SnapshotDef def, DomainDef domain, Location memory, Location disk) {
    Map<String, SnapshotDef.Disk> given = new LinkedHashMap<>();
    for (SnapshotDef.Disk d : def.disks()) {
      given.put(d.name, d);
    }
    String memoryFile = def.memoryFile();
    List<SnapshotDef.Disk> out = new ArrayList<>();
    for (DiskDef dd : domain.disks()) {
      SnapshotDef.Disk d = given.remove(dd.getTargetDev());
      if (d == null) {
        d = new SnapshotDef.Disk();
        d.name = dd.getTargetDev();
      }
      if (d.snapshot == null) {
        d.snapshot = (dd.isReadonly() ? Location.NO : disk).xml();
      }
      if (dd.isCdrom() && d.location() != Location.NO) {
        // libvirt refuses it too: a cdrom's medium is read-only and may change
        throw new FailedPreconditionException("disk " + dd.getTargetDev() + " is a cdrom, which "
            + "a snapshot cannot include; give it snapshot='no' or leave it out");
      }
      if (d.location() == Location.INTERNAL && !DiskDef.QCOW2.equals(dd.getFormat())) {
        throw new FailedPreconditionException("disk " + dd.getTargetDev() + " is "
            + dd.getFormat() + "; internal snapshots need qcow2 images (convert it, or use "
            + "external snapshots)");
      }
      if (d.location() == Location.EXTERNAL) {
        d.type = "file";
        if (d.driver == null) {
          d.driver = new SnapshotDef.Driver();
        }
        d.driver.type = DiskDef.QCOW2;
        if (d.source == null || d.source.file == null) {
          d.source = new SnapshotDef.Source();
          d.source.file = generatedOverlay(dd.getSourceFile(), def.name);
        }
      } else {
        d.type = null;
        d.driver = null;
        d.source = null;
      }
      out.add(d);
    }
    if (!given.isEmpty()) {
      throw new InvalidArgumentException("snapshot names disk '" + given.keySet().iterator().next()
          + "', which domain '" + domain.getName() + "' does not have");
    }
    def.memory = new SnapshotDef.Memory();
    def.memory.snapshot = memory.xml();
    def.memory.file = memory == Location.EXTERNAL ? memoryFile : null;
    def.disks = new SnapshotDef.Disks();
    def.disks.disks.addAll(out);
    def.domain = domain.copy();
  }

  /** libvirt's name for an overlay: the image path without its extension, then '.' and NAME. */
  static String generatedOverlay(String source, String snapshot) {
    int slash = source.lastIndexOf('/');
    int dot = source.lastIndexOf('.');
    String base = dot > slash ? source.substring(0, dot) : source;
    return base + "." + snapshot;
  }

  private static void checkMemory(SnapshotDef def) {
    if (def.memory == null) {
      return;
    }
    if (def.memory.snapshot == null) {
      if (def.memory.file == null) {
        throw new InvalidArgumentException("<memory> needs snapshot='no|internal|external'");
      }
      def.memory.snapshot = Location.EXTERNAL.xml();
    }
    Location l = Location.of(def.memory.snapshot);
    if (l == null || l == Location.MANUAL) {
      throw new InvalidArgumentException("unknown memory snapshot setting '"
          + def.memory.snapshot + "'; use no, internal or external");
    }
    if (def.memory.file != null && l != Location.EXTERNAL) {
      throw new InvalidArgumentException("memory file '" + def.memory.file
          + "' requires snapshot='external'");
    }
    if (l == Location.EXTERNAL && def.memory.file != null && !def.memory.file.startsWith("/")) {
      throw new InvalidArgumentException("memory file '" + def.memory.file
          + "' is not an absolute path");
    }
  }

  private static void checkDisks(SnapshotDef def) {
    Set<String> names = new HashSet<>();
    for (SnapshotDef.Disk d : def.disks()) {
      if (d.name == null || d.name.isBlank()) {
        throw new InvalidArgumentException("a snapshot <disk> needs name='vda' (the target)");
      }
      if (!names.add(d.name)) {
        throw new InvalidArgumentException("disk '" + d.name + "' is listed twice in <disks>");
      }
      if (d.snapshot != null && d.location() == null) {
        throw new InvalidArgumentException("disk '" + d.name + "': unknown snapshot setting '"
            + d.snapshot + "'; use no, internal, external or manual");
      }
      if (d.location() == Location.MANUAL) {
        throw new FailedPreconditionException("disk '" + d.name + "': snapshot='manual' is not "
            + "supported by Cryo; use no, internal or external");
      }
      if (d.type != null && !d.type.equals("file")) {
        throw new InvalidArgumentException("disk '" + d.name + "': external snapshot type '"
            + d.type + "' is not supported; use type='file'");
      }
      if (d.driver != null && d.driver.type != null && !d.driver.type.equals(DiskDef.QCOW2)) {
        throw new InvalidArgumentException("disk '" + d.name + "': overlay format '"
            + d.driver.type + "' is not supported; use qcow2");
      }
      if (d.file() != null) {
        if (d.location() != Location.EXTERNAL && d.location() != null) {
          throw new InvalidArgumentException("disk '" + d.name + "': a <source> needs "
              + "snapshot='external'");
        }
        if (d.snapshot == null) {
          d.snapshot = Location.EXTERNAL.xml();
        }
        if (!d.file().startsWith("/")) {
          throw new InvalidArgumentException("disk '" + d.name + "': overlay file '" + d.file()
              + "' is not an absolute path");
        }
      }
    }
  }
}
