package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import picocli.CommandLine.Command;

/** {@code cryo snapshot-info DOMAIN SNAPSHOT|--current}. */
@Command(name = "snapshot-info", description = "Show a snapshot's facts.")
final class SnapshotInfoCommand extends SnapshotArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    Snapshot s = cryo.snapshots().get(domain, snapshotName(cryo));
    if (out.json()) {
      out.json(Output.snapshot(s));
      return ExitCodes.OK;
    }
    int children = cryo.snapshots().children(domain, s.name()).size();
    int descendants = cryo.snapshots().list(domain,
        SnapshotFilter.ALL.withDescendantsOf(s.name(), false)).size();
    row(out, "Name:", s.name());
    row(out, "Domain:", s.domain());
    row(out, "Current:", s.current() ? "yes" : "no");
    row(out, "State:", Output.lower(s.state().name()));
    row(out, "Location:", s.external() ? "external" : "internal");
    row(out, "Memory:", Output.lower(s.memory().name()));
    row(out, "Parent:", s.parent() == null ? "-" : s.parent());
    row(out, "Children:", Integer.toString(children));
    row(out, "Descendants:", Integer.toString(descendants));
    row(out, "Created:", SnapshotListCommand.TIME.format(s.creationTime()));
    if (!s.description().isEmpty()) {
      row(out, "Description:", s.description());
    }
    return ExitCodes.OK;
  }

  private static void row(Output out, String label, String value) {
    out.line(String.format("%-15s %s", label, value));
  }
}
