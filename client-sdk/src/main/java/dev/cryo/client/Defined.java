package dev.cryo.client;

import java.util.List;

/**
 * The result of defining a domain.
 *
 * @param domain the domain as defined, shut off unless it was running before
 * @param warnings parts of the XML the server ignored, one line each
 */
public record Defined(Domain domain, List<String> warnings) {
  /** Copies {@code warnings}. */
  public Defined {
    warnings = List.copyOf(warnings);
  }
}
