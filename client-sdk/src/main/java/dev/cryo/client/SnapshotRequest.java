package dev.cryo.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What to snapshot and how: either libvirt {@code <domainsnapshot>} XML or structured fields, plus
 * libvirt's create flags. Build with {@link #builder()}.
 */
public final class SnapshotRequest {
  final String xml;
  final String name;
  final String description;
  final Snapshot.Location memory;
  final String memoryFile;
  final List<Snapshot.Disk> disks;
  final boolean diskOnly;
  final boolean halt;
  final boolean redefine;
  final boolean current;
  final boolean noMetadata;
  final boolean reuseExternal;
  final boolean live;

  private SnapshotRequest(Builder b) {
    xml = b.xml;
    name = b.name;
    description = b.description;
    memory = b.memory;
    memoryFile = b.memoryFile;
    disks = List.copyOf(b.disks);
    diskOnly = b.diskOnly;
    halt = b.halt;
    redefine = b.redefine;
    current = b.current;
    noMetadata = b.noMetadata;
    reuseExternal = b.reuseExternal;
    live = b.live;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builds a {@link SnapshotRequest}; every field is optional. */
  public static final class Builder {
    private String xml;
    private String name;
    private String description;
    private Snapshot.Location memory = Snapshot.Location.DEFAULT;
    private String memoryFile;
    private final List<Snapshot.Disk> disks = new ArrayList<>();
    private boolean diskOnly;
    private boolean halt;
    private boolean redefine;
    private boolean current;
    private boolean noMetadata;
    private boolean reuseExternal;
    private boolean live;

    private Builder() {}

    /** A {@code <domainsnapshot>} document; the structured fields must then stay unset. */
    public Builder xml(String xml) {
      this.xml = Objects.requireNonNull(xml, "xml");
      return this;
    }

    /** The name; default: the creation time in seconds. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    public Builder description(String description) {
      this.description = Objects.requireNonNull(description, "description");
      return this;
    }

    /** Where memory goes; {@code file} only for external. */
    public Builder memory(Snapshot.Location memory, String file) {
      this.memory = Objects.requireNonNull(memory, "memory");
      this.memoryFile = file;
      return this;
    }

    /** Adds a disk entry; unlisted disks take the default. */
    public Builder disk(String name, Snapshot.Location location, String file) {
      disks.add(Snapshot.Disk.of(name, location, file));
      return this;
    }

    /** Disks only, no memory (libvirt's DISK_ONLY). */
    public Builder diskOnly(boolean v) {
      diskOnly = v;
      return this;
    }

    /** Destroy the domain afterwards. */
    public Builder halt(boolean v) {
      halt = v;
      return this;
    }

    /** Record the metadata of an existing snapshot from {@link #xml}. */
    public Builder redefine(boolean v) {
      redefine = v;
      return this;
    }

    /** With redefine: make it current. */
    public Builder current(boolean v) {
      current = v;
      return this;
    }

    /**
     * External memory: keep the guest running while its memory is saved (libvirt's LIVE); it is
     * paused only at the end, when the disks switch. Default: paused for the whole save.
     */
    public Builder live(boolean v) {
      live = v;
      return this;
    }

    /** Keep no metadata. */
    public Builder noMetadata(boolean v) {
      noMetadata = v;
      return this;
    }

    /** External overlays exist already. */
    public Builder reuseExternal(boolean v) {
      reuseExternal = v;
      return this;
    }

    /**
     * @throws IllegalStateException if both XML and structured fields are set
     */
    public SnapshotRequest build() {
      if (xml != null && (name != null || description != null || !disks.isEmpty()
          || memory != Snapshot.Location.DEFAULT)) {
        throw new IllegalStateException("give either xml or structured fields, not both");
      }
      return new SnapshotRequest(this);
    }
  }
}
