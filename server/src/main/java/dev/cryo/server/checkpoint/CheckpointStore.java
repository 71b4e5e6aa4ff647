package dev.cryo.server.checkpoint;

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
 * One domain's checkpoint metadata on disk: {@code DIR/NAME.xml} per checkpoint (the XML
 * GetCheckpoint returns, with the domain) and {@code DIR/.current} naming the current one. Every
 * write is atomic ({@link AtomicFile}); names are validated by {@link CheckpointXml#checkName}, so
 * they are safe path components and can never collide with the dot files.
 */
final class CheckpointStore {
  private static final Logger log = LoggerFactory.getLogger(CheckpointStore.class);
  private static final String CURRENT = ".current";

  private final Path dir;

  CheckpointStore(Path dir) {
    this.dir = dir;
  }

  Path dir() {
    return dir;
  }

  /** Reads every checkpoint into a tree; unreadable files are logged and skipped. */
  CheckpointTree load(String domain) throws IOException {
    CheckpointTree tree = new CheckpointTree(domain);
    if (!Files.isDirectory(dir)) {
      return tree;
    }
    List<CheckpointDef> defs = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.xml")) {
      for (Path file : files) {
        if (file.getFileName().toString().startsWith(".")) {
          continue;
        }
        try {
          defs.add(CheckpointXml.parse(Files.readString(file, StandardCharsets.UTF_8),
              CheckpointXml.Mode.REDEFINE));
        } catch (RuntimeException e) {
          log.error("skipping unreadable checkpoint {}: {}", file, e.getMessage());
        }
      }
    }
    // Parents first, whatever order the folder lists them in.
    boolean progress = true;
    while (!defs.isEmpty() && progress) {
      progress = false;
      for (var it = defs.iterator(); it.hasNext(); ) {
        CheckpointDef def = it.next();
        if (def.getParent() == null || tree.contains(def.getParent())) {
          tree.add(def);
          it.remove();
          progress = true;
        }
      }
    }
    for (CheckpointDef orphan : defs) {
      log.warn("checkpoint '{}' of domain '{}' names a missing parent '{}'; treating it as a root",
          orphan.getName(), domain, orphan.getParent());
      orphan.setParent(null);
      tree.add(orphan);
    }
    Path current = dir.resolve(CURRENT);
    if (Files.exists(current)) {
      String name = Files.readString(current, StandardCharsets.UTF_8).strip();
      if (tree.contains(name)) {
        tree.setCurrent(name);
      }
    }
    return tree;
  }

  void write(CheckpointDef def) throws IOException {
    AtomicFile.write(file(def.getName()), CheckpointXml.format(def));
  }

  void delete(String name) throws IOException {
    AtomicFile.delete(file(name));
  }

  void writeCurrent(String name) throws IOException {
    if (name == null) {
      AtomicFile.delete(dir.resolve(CURRENT));
    } else {
      AtomicFile.write(dir.resolve(CURRENT), name);
    }
  }

  private Path file(String name) {
    CheckpointXml.checkName(name);
    return dir.resolve(name + ".xml");
  }
}
