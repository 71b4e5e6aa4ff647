package dev.cryo.server.store;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.error.Reason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The folders in which callers may name files ({@code --image-root}): save images, disk images
 * and kernels in domain XML, snapshot overlays, backup targets. A path is checked after resolving
 * symbolic links, so a link inside a root that points outside is refused, and so are device
 * nodes: a caller cannot make the server or QEMU open an arbitrary host file.
 */
public final class ImageRoots {
  private final List<Path> roots;
  /** Folders no caller may name a file in, even inside an image folder: the server's state. */
  private final List<Path> excluded;

  /** Creates the folders if needed. */
  public ImageRoots(List<Path> roots) throws IOException {
    this(roots, List.of());
  }

  /**
   * Creates the folders if needed.
   *
   * @param excluded folders whose files callers may never name (the state folder: domain
   *     definitions, managed saves, snapshot metadata, QEMU's sockets), even when an image folder
   *     holds them; an image folder inside one of them (STATE/images) stays usable
   */
  public ImageRoots(List<Path> roots, List<Path> excluded) throws IOException {
    if (roots.isEmpty()) {
      throw new IllegalArgumentException("at least one image folder is needed");
    }
    List<Path> real = new ArrayList<>();
    for (Path root : roots) {
      Files.createDirectories(root);
      real.add(root.toRealPath());
    }
    this.roots = List.copyOf(real);
    List<Path> out = new ArrayList<>();
    for (Path e : excluded) {
      Files.createDirectories(e);
      out.add(e.toRealPath());
    }
    this.excluded = List.copyOf(out);
  }

  public List<Path> roots() {
    return roots;
  }

  /**
   * The real path of an existing image {@code path}.
   *
   * @throws PermissionDeniedException if it lies outside every image folder
   * @throws NotFoundException if it does not exist
   */
  public Path existing(String path) {
    Path p = absolute(path);
    Path real;
    try {
      real = p.toRealPath();
    } catch (IOException e) {
      // Say "outside" before "missing": a caller must not probe the file system with this call.
      inside(realParent(p), path);
      throw new CryoException(Reason.IMAGE_NOT_FOUND, "no image file at " + path);
    }
    inside(real, path);
    if (!Files.isRegularFile(real)) {
      throw new InvalidArgumentException(path + " is not a regular file");
    }
    return real;
  }

  /**
   * Where a new image {@code path} goes: its folder resolved (it must exist), the file name kept.
   *
   * @throws PermissionDeniedException if it lies outside every image folder
   */
  public Path forWriting(String path) {
    Path p = absolute(path);
    Path parent = realParent(p);
    if (parent == null) {
      inside(p, path);
      throw new NotFoundException("the folder of " + path + " does not exist");
    }
    Path target = parent.resolve(p.getFileName());
    inside(target, path);
    if (Files.isSymbolicLink(target)) {
      throw new CryoException(
          Reason.PATH_NOT_ALLOWED, path + " is a symbolic link; name the file itself");
    }
    if (Files.isDirectory(target)) {
      throw new InvalidArgumentException(path + " is a folder; name a file");
    }
    return target;
  }

  /**
   * The real path of a file a domain definition names ({@code what}, e.g. "disk vda"): it need
   * not exist yet (libvirt lets you define a domain before creating its disks), but it must lie
   * inside an image folder, and if it exists it must be a regular file.
   *
   * @throws PermissionDeniedException if it lies outside every image folder or is not a file
   */
  public Path confined(String path, String what) {
    return confined(path, what, false);
  }

  /**
   * Like {@link #confined(String, String)} for the host block device of a {@code type='block'}
   * disk: it must lie inside an image folder too (so a server exposes devices only when started
   * with, e.g., {@code --image-root /dev/disk/by-id}: the device's real path counts), and if it
   * exists it must be a block device.
   */
  public Path confinedDevice(String path, String what) {
    return confined(path, what, true);
  }

  private Path confined(String path, String what, boolean device) {
    Path p = absolute(path);
    Path real;
    try {
      real = p.toRealPath();
    } catch (IOException e) {
      Path parent = realParent(p);
      real = parent == null ? p : parent.resolve(p.getFileName());
    }
    if (!isInside(real)) {
      throw new CryoException(
          Reason.PATH_NOT_ALLOWED,
          what
              + " "
              + path
              + " is outside the server's image "
              + "folders; use a path under "
              + roots.get(0)
              + " (or start the server with "
              + "--image-root for another folder)");
    }
    if (device) {
      if (Files.exists(real) && !isBlockDevice(real)) {
        throw new CryoException(Reason.PATH_NOT_ALLOWED, what + " " + path
            + " is not a block device; use a type='file' disk for an image file");
      }
    } else if (Files.exists(real) && !Files.isRegularFile(real)) {
      throw new CryoException(
          Reason.PATH_NOT_ALLOWED, what + " " + path + " is not a regular file");
    }
    return real;
  }

  /** Whether {@code real} is a block device node (false if it is missing or anything else). */
  public static boolean isBlockDevice(Path real) {
    try {
      int mode = (Integer) Files.getAttribute(real, "unix:mode");
      return (mode & 0170000) == 0060000; // S_IFMT == S_IFBLK
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  private boolean isInside(Path real) {
    for (Path root : roots) {
      if (real.startsWith(root) && !real.equals(root) && !shadowed(real, root)) {
        return true;
      }
    }
    return false;
  }

  /** True if an excluded folder below {@code root} holds {@code real}. */
  private boolean shadowed(Path real, Path root) {
    for (Path e : excluded) {
      if (real.startsWith(e) && e.startsWith(root) && !root.startsWith(e)) {
        return true;
      }
    }
    return false;
  }

  private static Path absolute(String path) {
    if (path == null || path.isEmpty()) {
      throw new InvalidArgumentException("an image path is required");
    }
    Path p = Path.of(path);
    if (!p.isAbsolute()) {
      throw new InvalidArgumentException("image path '" + path + "' must be absolute");
    }
    if (p.getFileName() == null) {
      throw new InvalidArgumentException("image path '" + path + "' names no file");
    }
    return p.normalize();
  }

  private static Path realParent(Path p) {
    try {
      return p.getParent().toRealPath();
    } catch (IOException e) {
      return null;
    }
  }

  private void inside(Path real, String given) {
    if (real != null && isInside(real)) {
      return;
    }
    throw new CryoException(
        Reason.PATH_NOT_ALLOWED,
        "image path "
            + given
            + " is outside the server's image "
            + "folders; use a path under "
            + roots.get(0)
            + " (or start the server with "
            + "--image-root for another folder)");
  }
}
