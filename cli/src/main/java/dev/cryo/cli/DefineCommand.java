package dev.cryo.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Defined;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cryo define FILE|-}: defines or updates a domain from libvirt domain XML. */
@Command(name = "define",
    description = "Define (or update) a domain from libvirt domain XML. Elements Cryo does not "
        + "model are ignored with a warning on stderr.")
final class DefineCommand extends ClientCommand {
  @Parameters(paramLabel = "FILE|-", description = "Domain XML file, or - for standard input.")
  String file;

  @Override
  int run(CryoClient cryo, Output out) {
    Defined defined = cryo.domains().define(Inputs.readText(file, System.in));
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.add("domain", Output.domain(defined.domain()));
      JsonArray w = new JsonArray();
      defined.warnings().forEach(w::add);
      o.add("warnings", w);
      out.json(o);
    } else {
      defined.warnings().forEach(w -> System.err.println("cryo: warning: " + w));
      out.line("Domain '" + defined.domain().name() + "' defined from "
          + (file.equals("-") ? "standard input" : file));
    }
    return ExitCodes.OK;
  }
}
