package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Base of commands on one snapshot: {@code DOMAIN SNAPSHOT}, or {@code DOMAIN --current}. */
abstract class SnapshotArgument extends DomainArgument {
  @Parameters(index = "1", arity = "0..1", paramLabel = "SNAPSHOT",
      description = "The snapshot's name.")
  String snapshot;

  @Option(names = "--current", description = "The domain's current snapshot.")
  boolean current;

  /** The snapshot named, or the current one. */
  String snapshotName(CryoClient cryo) {
    if ((snapshot == null) == !current) {
      throw new CliException(ExitCodes.USAGE, "give either SNAPSHOT or --current", null);
    }
    return snapshot != null ? snapshot : cryo.snapshots().current(domain).name();
  }
}
