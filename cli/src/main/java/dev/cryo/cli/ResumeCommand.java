package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;

/** {@code cryo resume}: runs a paused domain's CPUs again. */
@Command(name = "resume", description = "Resume a paused domain.")
final class ResumeCommand extends DomainArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    return report(out, cryo.domains().resume(domain), "resumed");
  }
}
