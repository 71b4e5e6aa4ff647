package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo undefine}: removes a shut-off domain's definition. */
@Command(name = "undefine", description = "Remove a shut-off domain's definition.")
final class UndefineCommand extends DomainArgument {
  @Option(names = "--remove-managed-save",
      description = "Also delete its managed save image; without it such a domain is kept.")
  boolean removeManagedSave;

  @Override
  int run(CryoClient cryo, Output out) {
    cryo.domains().undefine(domain, removeManagedSave);
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.addProperty("name", domain);
      o.addProperty("undefined", true);
      out.json(o);
    } else {
      out.line("Domain '" + domain + "' has been undefined");
    }
    return ExitCodes.OK;
  }
}
