package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshots;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo snapshot-revert DOMAIN SNAPSHOT|--current [--running|--paused]}. */
@Command(name = "snapshot-revert",
    description = "Revert a domain to a snapshot: disks, and memory if the snapshot has it. "
        + "What the domain does afterwards follows the snapshot unless --running or --paused.")
final class SnapshotRevertCommand extends SnapshotArgument {
  @ArgGroup(exclusive = true)
  To to;

  static final class To {
    @Option(names = "--running", required = true, description = "Run afterwards.")
    boolean running;

    @Option(names = "--paused", required = true, description = "Stay paused afterwards.")
    boolean paused;
  }

  @Override
  int run(CryoClient cryo, Output out) {
    String name = snapshotName(cryo);
    cryo.snapshots().revert(domain, name, to == null ? Snapshots.RevertTo.AS_SNAPSHOT
        : to.running ? Snapshots.RevertTo.RUNNING : Snapshots.RevertTo.PAUSED);
    return report(out, cryo.domains().get(domain), "reverted to snapshot " + name);
  }
}
