package dev.cryo.server.snapshot;

import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.store.ImageRoots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The files an external snapshot asks to write, checked before anything is made: where they may
 * lie ({@link ImageRoots}; elsewhere is PERMISSION_DENIED), that they clash with nothing, and
 * that they exist exactly when {@code reuse_external} says they do.
 */
final class ExternalFiles {
  private ExternalFiles() {}

  /**
   * Checks the files an external snapshot will write (overlays and the memory file): plain
   * absolute paths inside the server's image folders, none of them a disk of the domain or named
   * twice, new unless {@code reuse}.
   */
  static void check(SnapshotDef def, DomainDef domain, boolean reuse, ImageRoots roots) {
    Set<Path> sources = new HashSet<>();
    for (DiskDef d : domain.disks()) {
      if (d.sourcePath() != null) { // null: a cdrom's empty tray
        sources.add(Path.of(d.sourcePath()).normalize());
      }
    }
    Set<Path> seen = new HashSet<>();
    for (SnapshotDef.Disk sd : def.disks()) {
      if (sd.location() == Location.EXTERNAL) {
        checkFile(sd.file(), "overlay", "of disk " + sd.name(), sources, seen, reuse, roots);
      }
    }
    if (def.memoryLocation() == Location.EXTERNAL && def.memoryFile() != null) {
      checkFile(def.memoryFile(), "memory file", "", sources, seen, reuse, roots);
    }
  }

  private static void checkFile(String file, String what, String of, Set<Path> sources,
      Set<Path> seen, boolean reuse, ImageRoots roots) {
    String label = what + " '" + file + "'" + (of.isEmpty() ? "" : " " + of);
    Path p = Path.of(file);
    if (!p.isAbsolute() || !p.normalize().equals(p) || file.contains("/../")
        || file.endsWith("/..")) {
      throw new CryoException(
          Reason.PATH_NOT_ALLOWED,
          label + " has '.' or '..' components or is relative; " + "give a plain absolute path");
    }
    try {
      roots.forWriting(file);
    } catch (CryoException e) {
      throw switch (e.kind()) {
        case DENIED ->
            new CryoException(
                Reason.PATH_NOT_ALLOWED,
                label
                    + " is outside the "
                    + "allowed folders (the server's image folders "
                    + roots.roots()
                    + "); put it in one "
                    + "of them",
                e);
        case NOT_FOUND ->
            new FailedPreconditionException(
                "the folder of " + label + " does not exist; create it first", e);
        default -> e;
      };
    }
    if (sources.contains(p) || !seen.add(p)) {
      throw new InvalidArgumentException(label + " is already a disk of the domain or named "
          + "twice in the snapshot");
    }
    if (Files.exists(p) && !reuse) {
      throw new CryoException(
          Reason.FILE_EXISTS,
          label + " already exists; remove it, name another file, " + "or pass reuse_external");
    }
    if (!Files.exists(p) && reuse && !"memory file".equals(what)) {
      throw new FailedPreconditionException("reuse_external: " + label + " does not exist");
    }
  }
}
