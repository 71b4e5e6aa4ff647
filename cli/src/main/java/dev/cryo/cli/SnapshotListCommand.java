package dev.cryo.cli;

import com.google.gson.JsonArray;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo snapshot-list DOMAIN}: as {@code virsh snapshot-list}, with its filters. */
@Command(name = "snapshot-list",
    description = "List a domain's snapshots, parents before children. Filters in one group "
        + "(--leaves/--no-leaves; --inactive/--active/--disk-only; --internal/--external) "
        + "match any; groups combine.")
final class SnapshotListCommand extends DomainArgument {
  static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss Z")
      .withZone(ZoneId.systemDefault());

  @Option(names = "--roots", description = "Only snapshots without a parent.")
  boolean roots;

  @Option(names = "--from", paramLabel = "SNAPSHOT",
      description = "Only children of this snapshot (all descendants with --descendants).")
  String from;

  @Option(names = "--descendants", description = "With --from: all descendants.")
  boolean descendants;

  @Option(names = "--leaves", description = "Only snapshots without children.")
  boolean leaves;

  @Option(names = "--no-leaves", description = "Only snapshots with children.")
  boolean noLeaves;

  @Option(names = "--inactive", description = "Only snapshots of a shut-off domain.")
  boolean inactive;

  @Option(names = "--active", description = "Only snapshots with memory.")
  boolean active;

  @Option(names = "--disk-only", description = "Only disk-only snapshots.")
  boolean diskOnly;

  @Option(names = "--internal", description = "Only internal snapshots.")
  boolean internal;

  @Option(names = "--external", description = "Only external snapshots.")
  boolean external;

  @Option(names = "--tree", description = "Draw the snapshots as a tree.")
  boolean tree;

  @Option(names = "--parent", description = "Add a column with each snapshot's parent.")
  boolean parent;

  @Override
  int run(CryoClient cryo, Output out) {
    if (descendants && from == null) {
      throw new CliException(ExitCodes.USAGE, "--descendants needs --from SNAPSHOT", null);
    }
    SnapshotFilter f = SnapshotFilter.ALL.withLeaves(leaves, noLeaves)
        .withStates(inactive, active, diskOnly).withLocations(internal, external);
    if (roots) {
      f = f.withRoots();
    }
    if (from != null) {
      f = f.withDescendantsOf(from, !descendants);
    }
    List<Snapshot> list = cryo.snapshots().list(domain, f);
    if (out.json()) {
      JsonArray a = new JsonArray();
      list.forEach(s -> a.add(Output.snapshot(s)));
      out.json(a);
    } else if (tree) {
      out.text(tree(list));
    } else {
      List<String> header = new ArrayList<>(List.of("Name", "Creation Time", "State"));
      if (parent) {
        header.add("Parent");
      }
      out.table(header, list.stream().map(s -> {
        List<String> row = new ArrayList<>(List.of(s.name() + (s.current() ? " *" : ""),
            TIME.format(s.creationTime()), Output.lower(s.state().name())));
        if (parent) {
          row.add(s.parent() == null ? "" : s.parent());
        }
        return row;
      }).toList());
    }
    return ExitCodes.OK;
  }

  /** virsh's --tree drawing; snapshots whose parent is not listed are drawn as roots. */
  static String tree(List<Snapshot> list) {
    Map<String, List<Snapshot>> children = new LinkedHashMap<>();
    Map<String, Snapshot> byName = new LinkedHashMap<>();
    list.forEach(s -> byName.put(s.name(), s));
    List<Snapshot> tops = new ArrayList<>();
    for (Snapshot s : list) {
      if (s.parent() == null || !byName.containsKey(s.parent())) {
        tops.add(s);
      } else {
        children.computeIfAbsent(s.parent(), k -> new ArrayList<>()).add(s);
      }
    }
    StringBuilder b = new StringBuilder();
    for (Snapshot top : tops) {
      b.append(top.name()).append('\n');
      draw(b, children, top.name(), "");
      b.append('\n');
    }
    return b.length() == 0 ? "\n" : b.toString();
  }

  private static void draw(StringBuilder b, Map<String, List<Snapshot>> children, String name,
      String indent) {
    List<Snapshot> kids = children.getOrDefault(name, List.of());
    for (int i = 0; i < kids.size(); i++) {
      boolean last = i == kids.size() - 1;
      b.append(indent).append("  |\n");
      b.append(indent).append("  +- ").append(kids.get(i).name()).append('\n');
      draw(b, children, kids.get(i).name(), indent + (last ? "    " : "  | "));
    }
  }
}
