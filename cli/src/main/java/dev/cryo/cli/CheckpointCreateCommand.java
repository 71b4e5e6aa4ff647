package dev.cryo.cli;

import dev.cryo.client.Checkpoint;
import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo checkpoint-create}: virsh's checkpoint-create and checkpoint-create-as in one. */
@Command(name = "checkpoint-create",
    description = "Create a checkpoint (dirty bitmaps on every writable qcow2 disk, the start "
        + "of incremental backups) from <domaincheckpoint> XML FILE, or from --name.")
final class CheckpointCreateCommand extends DomainArgument {
  @Parameters(index = "1", arity = "0..1", paramLabel = "FILE|-",
      description = "<domaincheckpoint> XML.")
  String file;

  @Option(names = "--name", paramLabel = "NAME",
      description = "The checkpoint's name (default: the time in seconds).")
  String name;

  @Option(names = "--description", paramLabel = "TEXT", description = "Free text.")
  String description;

  @Option(names = "--redefine",
      description = "Restore metadata from XML that checkpoint-dumpxml printed.")
  boolean redefine;

  @Override
  int run(CryoClient cryo, Output out) {
    if (file != null && (name != null || description != null)) {
      throw new CliException(ExitCodes.USAGE, "give either FILE or --name/--description", null);
    }
    if (redefine && file == null) {
      throw new CliException(ExitCodes.USAGE, "--redefine needs FILE", null);
    }
    String xml = file != null ? Inputs.readText(file, System.in) : "<domaincheckpoint>"
        + (name == null ? "" : "<name>" + escape(name) + "</name>")
        + (description == null ? "" : "<description>" + escape(description) + "</description>")
        + "</domaincheckpoint>";
    Checkpoint c = redefine ? cryo.checkpoints().redefine(domain, xml)
        : cryo.checkpoints().create(domain, xml);
    if (out.json()) {
      out.json(Output.checkpoint(c));
    } else {
      out.line("Domain checkpoint " + c.name() + (redefine ? " redefined" : " created"));
    }
    return ExitCodes.OK;
  }

  static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
