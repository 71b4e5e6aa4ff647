package dev.cryo.client;

import java.time.Duration;
import java.util.Objects;

/** Checks deadlines given by callers, in one place so every service says the same. */
final class Deadlines {
  private Deadlines() {}

  static Duration check(Duration deadline) {
    Objects.requireNonNull(deadline, "deadline");
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline must be positive, got " + deadline);
    }
    return deadline;
  }
}
