package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshots;
import java.util.List;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo snapshot-delete DOMAIN SNAPSHOT|--current [--children|--children-only]}. */
@Command(name = "snapshot-delete",
    description = "Delete a snapshot (its children move up to its parent), or with its "
        + "descendants, or only its descendants.")
final class SnapshotDeleteCommand extends SnapshotArgument {
  @ArgGroup(exclusive = true)
  Mode mode;

  static final class Mode {
    @Option(names = "--children", required = true,
        description = "Also delete all its descendants.")
    boolean children;

    @Option(names = "--children-only", required = true,
        description = "Delete its descendants but keep it.")
    boolean childrenOnly;
  }

  @Option(names = "--metadata",
      description = "Forget the metadata only; the data stays in the images.")
  boolean metadata;

  @Override
  int run(CryoClient cryo, Output out) {
    String name = snapshotName(cryo);
    List<String> deleted = cryo.snapshots().delete(domain, name, mode == null
        ? Snapshots.DeleteMode.ONE : mode.children ? Snapshots.DeleteMode.WITH_CHILDREN
        : Snapshots.DeleteMode.CHILDREN_ONLY, metadata);
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.add("deleted", Output.strings(deleted));
      out.json(o);
    } else if (mode != null && mode.childrenOnly) {
      out.line("Domain snapshot " + name + " children deleted (" + deleted.size() + ")");
    } else if (mode != null) {
      out.line("Domain snapshot " + name + " and its children deleted (" + deleted.size()
          + ")");
    } else {
      out.line("Domain snapshot " + name + " deleted");
    }
    return ExitCodes.OK;
  }
}
