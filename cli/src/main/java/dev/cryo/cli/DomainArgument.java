package dev.cryo.cli;

import dev.cryo.client.Domain;
import picocli.CommandLine.Parameters;

/**
 * Base of commands on one domain that answer with the domain's new state: prints virsh's
 * sentence ("Domain 'vm1' started") or, with {@code --json}, the domain.
 */
abstract class DomainArgument extends ClientCommand {
  @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name.")
  String domain;

  int report(Output out, Domain d, String verb) {
    if (out.json()) {
      out.json(Output.domain(d));
    } else {
      out.line("Domain '" + d.name() + "' " + verb);
    }
    return ExitCodes.OK;
  }
}
