package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Domain;
import picocli.CommandLine.Command;

/** {@code cryo dominfo}: one domain's state, as {@code virsh dominfo} shows it. */
@Command(name = "dominfo", description = "Show a domain's state and resources.")
final class DomInfoCommand extends DomainArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    Domain d = cryo.domains().get(domain);
    if (out.json()) {
      out.json(Output.domain(d));
      return ExitCodes.OK;
    }
    row(out, "Name", d.name());
    row(out, "UUID", d.uuid());
    row(out, "State", Output.state(d.state()) + " (" + Output.lower(d.reason().name()) + ")");
    row(out, "State since", d.stateTime().toString());
    row(out, "PID", d.pid() == 0 ? "-" : Long.toString(d.pid()));
    row(out, "Accelerator", d.pid() == 0 ? "-" : Output.lower(d.accelerator().name()));
    row(out, "CPU(s)", Integer.toString(d.vcpus()));
    row(out, "Memory", Output.mib(d.memoryBytes()));
    row(out, "Used memory", Output.mib(d.currentMemoryBytes()));
    row(out, "Managed save", d.hasManagedSave() ? "yes" : "no");
    return ExitCodes.OK;
  }

  private static void row(Output out, String key, String value) {
    out.line(String.format("%-15s %s", key + ":", value));
  }
}
