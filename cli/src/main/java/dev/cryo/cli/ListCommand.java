package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo list}: as {@code virsh list}, active domains unless {@code --all}. */
@Command(name = "list", description = "List domains: active ones, or all with --all.")
final class ListCommand extends ClientCommand {
  @Option(names = "--all", description = "Also shut-off domains.")
  boolean all;

  @Option(names = "--inactive", description = "Only shut-off domains.")
  boolean inactive;

  @Option(names = "--state", paramLabel = "STATE", split = ",",
      description = "Only domains in these states: ${COMPLETION-CANDIDATES}.")
  List<DomainState> states = List.of();

  @Override
  int run(CryoClient cryo, Output out) {
    Set<DomainState> filter = EnumSet.noneOf(DomainState.class);
    filter.addAll(states);
    if (inactive) {
      filter.add(DomainState.SHUTOFF);
    } else if (!all && filter.isEmpty()) {
      filter.addAll(EnumSet.complementOf(EnumSet.of(DomainState.SHUTOFF, DomainState.UNKNOWN)));
    }
    List<Domain> domains = cryo.domains().list(filter);
    if (out.json()) {
      out.json(Output.domains(domains));
      return ExitCodes.OK;
    }
    out.table(List.of("Name", "State", "Reason", "Accel", "Memory", "vCPUs", "PID"),
        domains.stream().map(d -> List.of(d.name(), Output.state(d.state()),
            Output.lower(d.reason().name()), d.pid() == 0 ? "-" : Output.lower(
                d.accelerator().name()), Output.mib(d.memoryBytes()),
            Integer.toString(d.vcpus()), d.pid() == 0 ? "-" : Long.toString(d.pid()))).toList());
    return ExitCodes.OK;
  }
}
