package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo checkpoint-dumpxml DOMAIN CHECKPOINT [--no-domain]}. */
@Command(name = "checkpoint-dumpxml",
    description = "Print a checkpoint's <domaincheckpoint> XML (input for checkpoint-create "
        + "--redefine).")
final class CheckpointDumpXmlCommand extends DomainArgument {
  @Parameters(index = "1", paramLabel = "CHECKPOINT", description = "The checkpoint's name.")
  String checkpoint;

  @Option(names = "--no-domain", description = "Leave out the recorded domain definition.")
  boolean noDomain;

  @Override
  int run(CryoClient cryo, Output out) {
    String xml = cryo.checkpoints().xml(domain, checkpoint, noDomain);
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.addProperty("name", checkpoint);
      o.addProperty("xml", xml);
      out.json(o);
    } else {
      out.text(xml);
    }
    return ExitCodes.OK;
  }
}
