package dev.cryo.server.qemu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.Optional;

/**
 * How many QEMUs hold a granted file, and whose it was, kept on the file itself in extended
 * attributes ({@code user.cryo.refs}, {@code user.cryo.owner}), as libvirt keeps its DAC
 * reference count ({@code trusted.libvirt.security.ref_dac}): two QEMUs that share a disk, or two
 * servers on one host between which a guest moves, give it back to its owner only when the last
 * lets go, not while the other still opens it. On a file system without extended attributes each
 * grant stands alone, as before.
 */
final class SharedGrants {
  private static final String REFS = "cryo.refs";
  private static final String OWNER = "cryo.owner";

  private SharedGrants() {}

  /**
   * Counts one more holder of {@code file}; returns its original owner and group: {@code
   * current} for the first holder, what the first holder recorded for the others.
   */
  static int[] take(Path file, int[] current) throws IOException {
    UserDefinedFileAttributeView view = view(file);
    if (view == null) {
      return current;
    }
    try {
      int refs = read(view, REFS).map(Integer::parseInt).orElse(0);
      int[] owner = current;
      if (refs > 0) {
        String[] recorded = read(view, OWNER).orElse(current[0] + ":" + current[1]).split(":");
        owner = new int[] {Integer.parseInt(recorded[0]), Integer.parseInt(recorded[1])};
      } else {
        write(view, OWNER, current[0] + ":" + current[1]);
      }
      write(view, REFS, Integer.toString(refs + 1));
      return owner;
    } catch (NoSuchFileException e) {
      throw e;
    } catch (IOException | NumberFormatException e) {
      return current; // no extended attributes here
    }
  }

  /** Counts one holder fewer; true when it was the last, and the file goes back to its owner. */
  static boolean drop(Path file) throws IOException {
    UserDefinedFileAttributeView view = view(file);
    if (view == null) {
      return true;
    }
    try {
      int refs = read(view, REFS).map(Integer::parseInt).orElse(0);
      if (refs > 1) {
        write(view, REFS, Integer.toString(refs - 1));
        return false;
      }
      if (refs == 1) {
        view.delete(REFS);
        view.delete(OWNER);
      }
      return true;
    } catch (NoSuchFileException e) {
      throw e;
    } catch (IOException | NumberFormatException e) {
      return true;
    }
  }

  private static UserDefinedFileAttributeView view(Path file) {
    return Files.getFileAttributeView(file, UserDefinedFileAttributeView.class);
  }

  private static Optional<String> read(UserDefinedFileAttributeView view, String name)
      throws IOException {
    if (!view.list().contains(name)) {
      return Optional.empty();
    }
    ByteBuffer buffer = ByteBuffer.allocate(view.size(name));
    view.read(name, buffer);
    buffer.flip();
    return Optional.of(StandardCharsets.US_ASCII.decode(buffer).toString());
  }

  private static void write(UserDefinedFileAttributeView view, String name, String value)
      throws IOException {
    view.write(name, StandardCharsets.US_ASCII.encode(value));
  }
}
