package dev.cryo.client;

import java.util.List;

/**
 * The result of defining a domain.
 *
 * @param warnings parts of the XML the server ignored, one line each
 */
public record Defined(Domain domain, List<String> warnings) {
  public Defined {
    warnings = List.copyOf(warnings);
  }
}
