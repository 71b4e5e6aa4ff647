package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;

/** {@code cryo suspend}: pauses the CPUs. */
@Command(name = "suspend", description = "Pause a running domain's CPUs.")
final class SuspendCommand extends DomainArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    return report(out, cryo.domains().suspend(domain), "suspended");
  }
}
