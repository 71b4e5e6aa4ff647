package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo start}: boots a domain, or restores its managed save. */
@Command(name = "start",
    description = "Start a shut-off domain: boot it, or restore its managed save.")
final class StartCommand extends DomainArgument {
  @Option(names = "--paused", description = "Leave the CPUs stopped; continue with resume.")
  boolean paused;

  @Option(names = "--force-boot", description = "Boot from scratch, discarding a managed save.")
  boolean forceBoot;

  @Override
  int run(CryoClient cryo, Output out) {
    return report(out, cryo.domains().start(domain, paused, forceBoot),
        paused ? "started (paused)" : "started");
  }
}
