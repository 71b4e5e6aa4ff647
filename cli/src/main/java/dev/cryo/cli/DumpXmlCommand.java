package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import picocli.CommandLine.Command;

/** {@code cryo dumpxml}: the domain XML as the server stores it. */
@Command(name = "dumpxml", description = "Print the domain XML as the server stores it.")
final class DumpXmlCommand extends DomainArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    String xml = cryo.domains().xml(domain);
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.addProperty("name", domain);
      o.addProperty("xml", xml);
      out.json(o);
    } else {
      out.text(xml);
    }
    return ExitCodes.OK;
  }
}
