package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo snapshot-create}: virsh's snapshot-create and snapshot-create-as in one. */
@Command(name = "snapshot-create",
    description = "Create a snapshot of a domain, from <domainsnapshot> XML (--xml) or from "
        + "--name and --description. A running domain's snapshot holds its memory too unless "
        + "--disk-only.")
final class SnapshotCreateCommand extends DomainArgument {
  @Option(names = "--xml", paramLabel = "FILE|-", description = "<domainsnapshot> XML.")
  String xml;

  @Option(names = "--name", paramLabel = "NAME",
      description = "The snapshot's name (default: the time in seconds).")
  String name;

  @Option(names = "--description", paramLabel = "TEXT", description = "Free text.")
  String description;

  @Option(names = "--disk-only", description = "Disks only, no memory.")
  boolean diskOnly;

  @Option(names = "--halt", description = "Stop the domain once the snapshot is taken.")
  boolean halt;

  @Option(names = "--redefine",
      description = "Record the metadata of an existing snapshot from --xml.")
  boolean redefine;

  @Option(names = "--current", description = "With --redefine: make it the current snapshot.")
  boolean current;

  @Option(names = "--no-metadata", description = "Take it but keep no metadata.")
  boolean noMetadata;

  @Option(names = "--reuse-external", description = "External overlay files exist already.")
  boolean reuseExternal;

  @Option(names = "--memory-file", paramLabel = "PATH", description = "Save the memory "
      + "externally, as a save image at PATH on the server (virsh's --memspec); the disks get "
      + "external overlays at the same instant.")
  String memoryFile;

  @Option(names = "--live", description = "With --memory-file: keep the guest running while "
      + "its memory is saved.")
  boolean live;

  @Override
  int run(CryoClient cryo, Output out) {
    if (xml != null && (name != null || description != null)) {
      throw new CliException(ExitCodes.USAGE, "give either --xml or --name/--description", null);
    }
    SnapshotRequest.Builder b = SnapshotRequest.builder()
        .diskOnly(diskOnly).halt(halt).redefine(redefine).current(current)
        .noMetadata(noMetadata).reuseExternal(reuseExternal);
    if (xml != null) {
      b.xml(Inputs.readText(xml, System.in));
    }
    if (name != null) {
      b.name(name);
    }
    if (description != null) {
      b.description(description);
    }
    if (memoryFile != null) {
      if (xml != null) {
        throw new CliException(ExitCodes.USAGE, "give the memory file in --xml or with "
            + "--memory-file, not both", null);
      }
      b.memory(Snapshot.Location.EXTERNAL, memoryFile);
    }
    b.live(live);
    Snapshot s;
    // Ctrl-C aborts the snapshot on the server (an external memory save stops midway).
    try (CancelOnExit exit = new CancelOnExit()) {
      s = cryo.snapshots().create(domain, b.build(), exit.cancellation());
    }
    if (out.json()) {
      out.json(Output.snapshot(s));
    } else {
      out.line("Domain snapshot " + s.name() + (redefine ? " redefined" : " created"));
    }
    return ExitCodes.OK;
  }
}
