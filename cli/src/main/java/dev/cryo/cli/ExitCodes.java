package dev.cryo.cli;

import dev.cryo.client.CryoException;

/**
 * The exit codes of {@code cryo}, one per kind of failure a script may want to tell apart. The
 * table is printed by {@code cryo --help}; keep both in step.
 */
final class ExitCodes {
  static final int OK = 0;
  /** Anything not below: INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, ... */
  static final int FAILURE = 1;
  /** Unknown command or option, missing or malformed argument (picocli's own code). */
  static final int USAGE = 2;
  static final int NOT_FOUND = 3;
  /** INVALID_ARGUMENT, OUT_OF_RANGE, or a local file that cannot be read. */
  static final int INVALID_INPUT = 4;
  /** FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED: fix the state (or wait) and try again. */
  static final int PRECONDITION = 5;
  static final int UNAVAILABLE = 6;
  static final int TIMED_OUT = 7;
  /** PERMISSION_DENIED: the credentials are known but their role may not do this. */
  static final int PERMISSION_DENIED = 8;
  /** UNAUTHENTICATED: no credentials, or ones the server does not know (or has revoked). */
  static final int UNAUTHENTICATED = 9;

  private ExitCodes() {}

  static int of(Exception e) {
    if (e instanceof CliException ce) {
      return ce.exitCode();
    }
    if (!(e instanceof CryoException ce)) {
      return FAILURE;
    }
    return switch (ce.code()) {
      case NOT_FOUND -> NOT_FOUND;
      case INVALID_ARGUMENT, OUT_OF_RANGE -> INVALID_INPUT;
      case FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED -> PRECONDITION;
      case UNAVAILABLE -> UNAVAILABLE;
      case DEADLINE_EXCEEDED -> TIMED_OUT;
      case PERMISSION_DENIED -> PERMISSION_DENIED;
      case UNAUTHENTICATED -> UNAUTHENTICATED;
      default -> FAILURE;
    };
  }

  /** The one line printed for a failure. */
  static String message(Exception e) {
    String m = e.getMessage();
    if (e instanceof CryoException ce) {
      String code = ce.code().name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
      return code + ": " + oneLine(m);
    }
    return oneLine(m == null ? e.toString() : m);
  }

  static String oneLine(String s) {
    return s == null ? "" : s.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
  }
}
