package dev.cryo.cli;

import com.google.gson.JsonArray;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.CryoClient;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo checkpoint-list DOMAIN}: as {@code virsh checkpoint-list}. */
@Command(name = "checkpoint-list", description = "List a domain's checkpoints, parents first.")
final class CheckpointListCommand extends DomainArgument {
  @Option(names = "--roots", description = "Only checkpoints without a parent.")
  boolean roots;

  @Option(names = "--from", paramLabel = "CHECKPOINT",
      description = "Only descendants of this checkpoint (children only with --roots).")
  String from;

  @Option(names = "--leaves", description = "Only checkpoints without children.")
  boolean leaves;

  @Option(names = "--no-leaves", description = "Only checkpoints with children.")
  boolean noLeaves;

  @Option(names = "--size",
      description = "Add each checkpoint's bytes written since (running domain).")
  boolean size;

  @Option(names = "--tree", description = "Draw the checkpoints as a tree.")
  boolean tree;

  @Option(names = "--parent", description = "Add a column with each checkpoint's parent.")
  boolean parent;

  @Override
  int run(CryoClient cryo, Output out) {
    List<Checkpoint> list = cryo.checkpoints().list(domain,
        new Checkpoints.Filter(roots, leaves, noLeaves, from));
    if (size) {
      list = list.stream().map(c -> cryo.checkpoints().getWithSize(domain, c.name())).toList();
    }
    if (out.json()) {
      JsonArray a = new JsonArray();
      list.forEach(c -> a.add(Output.checkpoint(c)));
      out.json(a);
    } else if (tree) {
      out.text(tree(list));
    } else {
      List<String> header = new ArrayList<>(List.of("Name", "Creation Time"));
      if (parent) {
        header.add("Parent");
      }
      if (size) {
        header.add("Size");
      }
      out.table(header, list.stream().map(c -> {
        List<String> row = new ArrayList<>(List.of(c.name() + (c.current() ? " *" : ""),
            SnapshotListCommand.TIME.format(c.createTime())));
        if (parent) {
          row.add(c.parent() == null ? "" : c.parent());
        }
        if (size) {
          row.add(Progress.bytes(c.sizeBytes()));
        }
        return row;
      }).toList());
    }
    return ExitCodes.OK;
  }

  static String tree(List<Checkpoint> list) {
    Map<String, List<Checkpoint>> children = new LinkedHashMap<>();
    Map<String, Checkpoint> byName = new LinkedHashMap<>();
    list.forEach(c -> byName.put(c.name(), c));
    List<Checkpoint> tops = new ArrayList<>();
    for (Checkpoint c : list) {
      if (c.parent() == null || !byName.containsKey(c.parent())) {
        tops.add(c);
      } else {
        children.computeIfAbsent(c.parent(), k -> new ArrayList<>()).add(c);
      }
    }
    StringBuilder b = new StringBuilder();
    for (Checkpoint top : tops) {
      b.append(top.name()).append('\n');
      draw(b, children, top.name(), "");
      b.append('\n');
    }
    return b.length() == 0 ? "\n" : b.toString();
  }

  private static void draw(StringBuilder b, Map<String, List<Checkpoint>> children, String name,
      String indent) {
    List<Checkpoint> kids = children.getOrDefault(name, List.of());
    for (int i = 0; i < kids.size(); i++) {
      boolean last = i == kids.size() - 1;
      b.append(indent).append("  |\n");
      b.append(indent).append("  +- ").append(kids.get(i).name()).append('\n');
      draw(b, children, kids.get(i).name(), indent + (last ? "    " : "  | "));
    }
  }
}
