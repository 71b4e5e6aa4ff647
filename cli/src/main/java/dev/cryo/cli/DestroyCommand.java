package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;

/** {@code cryo destroy}: stops the domain at once. */
@Command(name = "destroy",
    description = "Stop a domain at once, like pulling the power cord. The definition stays.")
final class DestroyCommand extends DomainArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    return report(out, cryo.domains().destroy(domain), "destroyed");
  }
}
