package dev.cryo.server.qemu;

import java.nio.file.Path;
import java.util.Objects;

/** The node {@link QemuMonitor#blockdevAdd} opens, as QEMU's {@code BlockdevOptions}. */
public sealed interface BlockdevOptions {
  /** The new node's name; null lets QEMU pick one (only for a node given inline as a child). */
  String nodeName();

  /** A child node: one given inline, or a reference to an existing node by name. */
  sealed interface Child permits File, NodeRef {}

  /** An existing node, by name ({@code BlockdevRef} as a string). */
  record NodeRef(String nodeName) implements Child {
    public NodeRef {
      Objects.requireNonNull(nodeName, "nodeName");
    }
  }

  /**
   * The {@code file} protocol driver.
   *
   * @param discardUnmap pass guest discards to the file ({@code "discard": "unmap"})
   * @param autoReadOnly open read-only when nothing above writes ({@code "auto-read-only"}), as
   *     libvirt opens every image, so a read-only ISO opens too
   */
  record File(String nodeName, Path filename, boolean discardUnmap, boolean autoReadOnly)
      implements BlockdevOptions, Child {
    public File {
      Objects.requireNonNull(filename, "filename");
    }

    /** A file node opened read-write. */
    public File(String nodeName, Path filename, boolean discardUnmap) {
      this(nodeName, filename, discardUnmap, false);
    }
  }

  /** The {@code raw} format driver over an existing file node. */
  record Raw(String nodeName, NodeRef file, boolean readOnly) implements BlockdevOptions {
    public Raw {
      Objects.requireNonNull(nodeName, "nodeName");
      Objects.requireNonNull(file, "file");
    }
  }

  /**
   * The {@code qcow2} format driver over {@code file}.
   *
   * @param noBacking open without a backing node ({@code "backing": null}), e.g. an overlay that
   *     {@code blockdev-snapshot} will put on top of the running chain; false opens the backing
   *     file the image names, if any
   */
  record Qcow2(String nodeName, Child file, boolean noBacking) implements BlockdevOptions {
    public Qcow2 {
      Objects.requireNonNull(nodeName, "nodeName");
      Objects.requireNonNull(file, "file");
    }
  }
}
