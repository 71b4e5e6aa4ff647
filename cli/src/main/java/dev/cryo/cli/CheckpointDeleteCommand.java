package dev.cryo.cli;

import com.google.gson.JsonObject;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.CryoClient;
import java.util.List;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo checkpoint-delete DOMAIN CHECKPOINT [--children|--children-only]}. */
@Command(name = "checkpoint-delete",
    description = "Delete a checkpoint: its bitmaps merge into its parent's, so later "
        + "incremental backups stay correct. Or with its descendants, or only them.")
final class CheckpointDeleteCommand extends DomainArgument {
  @Parameters(index = "1", paramLabel = "CHECKPOINT", description = "The checkpoint's name.")
  String checkpoint;

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

  @Option(names = "--metadata", description = "Forget the metadata only; bitmaps stay.")
  boolean metadata;

  @Override
  int run(CryoClient cryo, Output out) {
    List<String> deleted = cryo.checkpoints().delete(domain, checkpoint, mode == null
        ? Checkpoints.DeleteMode.ONE : mode.children ? Checkpoints.DeleteMode.WITH_CHILDREN
        : Checkpoints.DeleteMode.CHILDREN_ONLY, metadata);
    if (out.json()) {
      JsonObject o = new JsonObject();
      o.add("deleted", Output.strings(deleted));
      out.json(o);
    } else if (mode != null && mode.childrenOnly) {
      out.line("Domain checkpoint " + checkpoint + " children deleted (" + deleted.size() + ")");
    } else if (mode != null) {
      out.line("Domain checkpoint " + checkpoint + " and its children deleted ("
          + deleted.size() + ")");
    } else {
      out.line("Domain checkpoint " + checkpoint + " deleted");
    }
    return ExitCodes.OK;
  }
}
