package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshot;
import picocli.CommandLine.Command;

/** {@code cryo snapshot-dumpxml DOMAIN SNAPSHOT|--current}. */
@Command(name = "snapshot-dumpxml",
    description = "Print a snapshot's <domainsnapshot> XML, with the domain it recorded.")
final class SnapshotDumpXmlCommand extends SnapshotArgument {
  @Override
  int run(CryoClient cryo, Output out) {
    Snapshot s = cryo.snapshots().get(domain, snapshotName(cryo));
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.addProperty("name", s.name());
      o.addProperty("xml", s.xml());
      out.json(o);
    } else {
      out.text(s.xml());
    }
    return ExitCodes.OK;
  }
}
