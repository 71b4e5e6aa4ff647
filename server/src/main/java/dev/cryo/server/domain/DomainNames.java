package dev.cryo.server.domain;

import dev.cryo.server.error.InvalidArgumentException;

/**
 * The rule for names that become file names on the server (domains, snapshots, checkpoints):
 * 1 to 200 characters, none of them {@code /}, NUL or another control character, and not
 * {@code .}, {@code ..} or starting with a dot. libvirt allows more; these are the names that are
 * safe as a path component without escaping.
 */
public final class DomainNames {
  static final int MAX_LENGTH = 200;

  private DomainNames() {}

  /**
   * Checks {@code name} as a name of a {@code kind} (e.g. "domain", "snapshot").
   *
   * @throws InvalidArgumentException naming what is wrong
   */
  public static void check(String name, String kind) {
    if (name == null || name.isEmpty()) {
      throw new InvalidArgumentException(kind + " name is missing");
    }
    if (name.length() > MAX_LENGTH) {
      throw new InvalidArgumentException(kind + " name is " + name.length()
          + " characters long; at most " + MAX_LENGTH + " are allowed");
    }
    if (name.startsWith(".")) {
      throw new InvalidArgumentException(kind + " name '" + name + "' starts with a dot; "
          + "names may not start with '.'");
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c == '/' || c < 0x20 || c == 0x7f) {
        throw new InvalidArgumentException(kind + " name may not contain '/', NUL or control "
            + "characters (found " + (c == '/' ? "'/'" : String.format("U+%04X", (int) c))
            + " at position " + i + ")");
      }
    }
  }

  static void check(String name) {
    check(name, "domain");
  }
}
