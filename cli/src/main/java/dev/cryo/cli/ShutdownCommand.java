package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo shutdown}: ACPI power button, then waits for the guest to power off. */
@Command(name = "shutdown",
    description = "Ask the guest to power off (ACPI) and wait until it has.")
final class ShutdownCommand extends DomainArgument {
  @Option(names = "--timeout", paramLabel = "DURATION", converter = Durations.class,
      defaultValue = "60s",
      description = "How long to wait, e.g. 90s or 2m (default: ${DEFAULT-VALUE}). Past it: "
          + "exit 7 and the domain keeps running.")
  Duration timeout;

  @Override
  int run(CryoClient cryo, Output out) {
    return report(out, cryo.domains().shutdown(domain, timeout), "is shut down");
  }
}
