package dev.cryo.server.checkpoint;

import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainNames;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.xml.SecureXml;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads, validates and writes {@code <domaincheckpoint>} XML, with libvirt's rules.
 *
 * <p>{@link Mode#CREATE} is what {@code virDomainCheckpointCreateXML} accepts without flags: the
 * caller may give a name, a description and the disks; parent, creation time and the domain are
 * the server's to fill in and are dropped. {@link Mode#REDEFINE} restores saved metadata (after a
 * host move): name and creation time are required and parent and domain are kept.
 *
 * <p>{@link #align} then matches the disks against the domain, as libvirt's {@code
 * virDomainCheckpointAlignDisks} does: listed disks must exist; a listed disk without a {@code
 * checkpoint} attribute gets {@code bitmap}; unlisted disks get {@code no}; a bitmap is named after
 * the checkpoint unless given; the list is put in the domain's disk order. When no disk is listed
 * at all, every writable qcow2 disk gets a bitmap and the others {@code no} (libvirt selects every
 * disk and then fails on the first raw one; Cryo picks the disks that can carry a bitmap).
 */
public final class CheckpointXml {
  private static final String WHAT = "checkpoint";
  private static final Pattern TARGET_DEV = Pattern.compile("[a-z][a-z0-9]{0,31}");
  /** QEMU refuses bitmap names longer than this (BDRV_BITMAP_MAX_NAME_SIZE). */
  static final int MAX_BITMAP_NAME = 1023;

  private CheckpointXml() {}

  /** Which fields of the document the caller may set. */
  public enum Mode {
    CREATE,
    REDEFINE
  }

  /**
   * Parses and validates checkpoint XML; the result still needs {@link #align}.
   *
   * @throws InvalidArgumentException for malformed XML, a DTD, a bad name, an unknown {@code
   *     checkpoint} value, a disk listed twice, or (redefine) a missing name or creation time
   */
  public static CheckpointDef parse(String xml, Mode mode) {
    CheckpointDef def = SecureXml.unmarshal(xml, CheckpointDef.class, WHAT);
    if (mode == Mode.CREATE) {
      def.setParent(null);
      def.setCreationTime(null);
      def.setDomain(null);
    }
    if (def.getName() != null || mode == Mode.REDEFINE) {
      checkName(def.getName());
    }
    if (mode == Mode.REDEFINE) {
      if (def.getCreationTime() == null) {
        throw new InvalidArgumentException("checkpoint '" + def.getName()
            + "' has no <creationTime>; redefining needs the saved XML as GetCheckpoint returns "
            + "it");
      }
      if (def.getParent() != null) {
        checkName(def.getParent());
      }
      if (def.getDomain() != null) {
        // Validates the embedded definition with the same rules as DefineDomain.
        def.setDomain(DomainXml.parse(SecureXml.marshal(def.getDomain())).def());
      }
    }
    Set<String> seen = new HashSet<>();
    for (CheckpointDef.Disk disk : def.disks()) {
      String name = disk.getName();
      if (name == null || !TARGET_DEV.matcher(name).matches()) {
        throw new InvalidArgumentException("checkpoint disk name '" + name
            + "' is not a target device name such as 'vda'");
      }
      if (!seen.add(name)) {
        throw new InvalidArgumentException("disk '" + name + "' is listed twice in the "
            + "checkpoint; list each disk once");
      }
      String type = disk.getCheckpoint();
      if (type != null && !type.equals(CheckpointDef.Disk.BITMAP)
          && !type.equals(CheckpointDef.Disk.NO)) {
        throw new InvalidArgumentException("disk '" + name + "' has checkpoint='" + type
            + "'; use 'bitmap' or 'no'");
      }
      if (disk.getBitmap() != null) {
        if (CheckpointDef.Disk.NO.equals(type)) {
          throw new InvalidArgumentException("disk '" + name + "' has checkpoint='no' and a "
              + "bitmap name; drop the bitmap attribute or use checkpoint='bitmap'");
        }
        checkBitmapName(disk.getBitmap());
      }
      if (disk.getSize() != null && mode == Mode.CREATE) {
        disk.setSize(null); // output only
      }
    }
    return def;
  }

  /**
   * Checks a checkpoint name: the rule of {@link DomainNames} (it becomes a file name).
   *
   * @throws InvalidArgumentException naming what is wrong
   */
  public static void checkName(String name) {
    DomainNames.check(name, WHAT);
  }

  static void checkBitmapName(String bitmap) {
    if (bitmap.isEmpty() || bitmap.length() > MAX_BITMAP_NAME) {
      throw new InvalidArgumentException("bitmap name must be 1 to " + MAX_BITMAP_NAME
          + " characters long");
    }
    for (int i = 0; i < bitmap.length(); i++) {
      char c = bitmap.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        throw new InvalidArgumentException("bitmap name may not contain control characters "
            + String.format("(found U+%04X at position %d)", (int) c, i));
      }
    }
  }

  /**
   * Matches the checkpoint's disks with {@code domain}'s (see the class comment) and records a
   * copy of {@code domain} in the checkpoint. The checkpoint must have a name.
   *
   * @throws InvalidArgumentException if a listed disk is not in the domain, a bitmap is asked for
   *     on a raw or read-only disk, or no disk would get a bitmap
   */
  public static void align(CheckpointDef def, DomainDef domain) {
    Map<String, CheckpointDef.Disk> listed = new HashMap<>();
    for (CheckpointDef.Disk disk : def.disks()) {
      listed.put(disk.getName(), disk);
    }
    Set<String> targets = new HashSet<>();
    for (DiskDef d : domain.disks()) {
      targets.add(d.getTargetDev());
    }
    for (String name : listed.keySet()) {
      if (!targets.contains(name)) {
        throw new InvalidArgumentException("the checkpoint lists disk '" + name
            + "', but domain '" + domain.getName() + "' has no such disk (it has " + targets
            + ")");
      }
    }
    boolean explicit = !listed.isEmpty();
    List<CheckpointDef.Disk> aligned = new ArrayList<>();
    boolean anyBitmap = false;
    for (DiskDef d : domain.disks()) {
      boolean capable = DiskDef.QCOW2.equals(d.getFormat()) && !d.isReadonly();
      CheckpointDef.Disk disk = listed.get(d.getTargetDev());
      if (disk == null) {
        disk = new CheckpointDef.Disk(d.getTargetDev(),
            !explicit && capable ? CheckpointDef.Disk.BITMAP : CheckpointDef.Disk.NO, null);
      } else if (disk.getCheckpoint() == null) {
        disk.setCheckpoint(CheckpointDef.Disk.BITMAP);
      }
      if (disk.hasBitmap()) {
        if (!DiskDef.QCOW2.equals(d.getFormat())) {
          throw new InvalidArgumentException("disk '" + d.getTargetDev() + "' is "
              + d.getFormat() + "; dirty bitmaps need a qcow2 image, so give it "
              + "checkpoint='no'");
        }
        if (d.isReadonly()) {
          throw new InvalidArgumentException("disk '" + d.getTargetDev() + "' is read-only "
              + "and cannot carry a dirty bitmap; give it checkpoint='no'");
        }
        if (disk.getBitmap() == null) {
          disk.setBitmap(def.getName());
        }
        anyBitmap = true;
      }
      aligned.add(disk);
    }
    if (!anyBitmap) {
      throw new InvalidArgumentException("the checkpoint selects no disk for a bitmap; domain '"
          + domain.getName() + "' needs a writable qcow2 disk with checkpoint='bitmap'");
    }
    def.disks().clear();
    def.disks().addAll(aligned);
    def.setDomain(domain.copy());
  }

  /** Writes {@code def} as libvirt-style XML. */
  public static String format(CheckpointDef def) {
    return SecureXml.marshal(def);
  }

  /**
   * Writes {@code def} without the parts the caller did not ask for: the size attributes unless
   * {@code withSize}, the domain unless {@code withDomain} (libvirt's NO_DOMAIN flag).
   */
  public static String format(CheckpointDef def, boolean withDomain) {
    if (withDomain || def.getDomain() == null) {
      return format(def);
    }
    CheckpointDef copy = def.copy();
    copy.setDomain(null);
    return format(copy);
  }

  static CheckpointDef copy(CheckpointDef def) {
    return SecureXml.unmarshal(SecureXml.marshal(def), CheckpointDef.class, WHAT);
  }
}
