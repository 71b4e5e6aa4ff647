package dev.cryo.server.snapshot;

import dev.cryo.server.error.InternalException;
import dev.cryo.server.store.AtomicFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshot metadata of one domain on disk: {@code DIR/NAME.xml} per snapshot, {@code
 * DIR/current} holding the current snapshot's name, and {@code DIR/NAME.creating} while a create
 * is in flight (holding the planned XML, so that a server killed mid-create can undo it). Every
 * write is atomic ({@link AtomicFile}). Not thread-safe: the domain's job serializes writers.
 */
final class SnapshotStore {
  private static final Logger log = LoggerFactory.getLogger(SnapshotStore.class);
  static final String XML = ".xml";
  static final String CREATING = ".creating";
  static final String CURRENT = "current";

  private final Path dir;

  SnapshotStore(Path dir) {
    this.dir = dir;
  }

  Path dir() {
    return dir;
  }

  /** Loads the tree; half-created entries are not part of it (see {@link #pending}). */
  SnapshotTree load() {
    SnapshotTree tree = new SnapshotTree();
    if (!Files.isDirectory(dir)) {
      return tree;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + XML)) {
      for (Path f : files) {
        if (f.getFileName().toString().startsWith(".")) {
          continue;
        }
        try {
          tree.put(SnapshotXml.parse(Files.readString(f, StandardCharsets.UTF_8), true));
        } catch (RuntimeException e) {
          log.error("skipping unreadable snapshot metadata {}: {}", f, e.getMessage());
        }
      }
      Path current = dir.resolve(CURRENT);
      if (Files.exists(current)) {
        String name = Files.readString(current, StandardCharsets.UTF_8).strip();
        if (tree.contains(name)) {
          tree.setCurrent(name);
        }
      }
    } catch (IOException e) {
      throw new InternalException("could not read snapshot metadata in " + dir, e);
    }
    return tree;
  }

  /** The plans of creates that never finished (server killed mid-create). */
  List<SnapshotDef> pending() {
    List<SnapshotDef> out = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + CREATING)) {
      for (Path f : files) {
        try {
          out.add(SnapshotXml.parse(Files.readString(f, StandardCharsets.UTF_8), true));
        } catch (RuntimeException e) {
          log.error("removing unreadable pending snapshot {}: {}", f, e.getMessage());
          AtomicFile.delete(f);
        }
      }
    } catch (IOException e) {
      throw new InternalException("could not read snapshot metadata in " + dir, e);
    }
    return out;
  }

  void writePending(SnapshotDef def) {
    write(dir.resolve(def.name() + CREATING), SnapshotXml.format(def));
  }

  void clearPending(String name) {
    delete(dir.resolve(name + CREATING));
  }

  void save(SnapshotDef def) {
    write(dir.resolve(def.name() + XML), SnapshotXml.format(def));
  }

  void delete(String name) {
    delete(dir.resolve(name + XML));
  }

  void setCurrent(String name) {
    if (name == null) {
      delete(dir.resolve(CURRENT));
    } else {
      write(dir.resolve(CURRENT), name + "\n");
    }
  }

  private static void write(Path file, String content) {
    try {
      AtomicFile.write(file, content);
    } catch (IOException e) {
      throw new InternalException("could not write snapshot metadata " + file.getFileName(), e);
    }
  }

  private static void delete(Path file) {
    try {
      AtomicFile.delete(file);
    } catch (IOException e) {
      throw new InternalException("could not remove snapshot metadata " + file.getFileName(), e);
    }
  }
}
