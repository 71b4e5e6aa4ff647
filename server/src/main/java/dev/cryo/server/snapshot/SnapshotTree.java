package dev.cryo.server.snapshot;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The snapshots of one domain as a forest: each snapshot names its parent; children are derived.
 * Pure data, no I/O. Not thread-safe: the owner guards it.
 */
public final class SnapshotTree {
  private final Map<String, SnapshotDef> byName = new LinkedHashMap<>();
  private String current;

  public boolean contains(String name) {
    return byName.containsKey(name);
  }

  /** The snapshot, or NOT_FOUND naming it. */
  public SnapshotDef get(String name) {
    SnapshotDef s = byName.get(name);
    if (s == null) {
      throw new CryoException(Reason.SNAPSHOT_NOT_FOUND, "no snapshot named '" + name + "'")
          .with("snapshot", name);
    }
    return s;
  }

  public int size() {
    return byName.size();
  }

  void put(SnapshotDef def) {
    byName.put(def.name(), def);
  }

  void remove(String name) {
    byName.remove(name);
    if (name.equals(current)) {
      current = null;
    }
  }

  /** The current snapshot's name, or null. */
  public String current() {
    return current;
  }

  void setCurrent(String name) {
    this.current = name;
  }

  /** Direct children of {@code name} (null: the roots), oldest first. */
  public List<SnapshotDef> children(String name) {
    List<SnapshotDef> out = new ArrayList<>();
    for (SnapshotDef s : byName.values()) {
      String p = s.parentName();
      if (name == null ? p == null || !byName.containsKey(p) : name.equals(p)) {
        out.add(s);
      }
    }
    out.sort(ORDER);
    return out;
  }

  /** Every descendant of {@code name}, parents before children, depth first. */
  public List<SnapshotDef> descendants(String name) {
    return depthFirst(children(name));
  }

  /** Whether {@code ancestor} is {@code name} or one of its ancestors. */
  boolean isSelfOrAncestor(String ancestor, String name) {
    for (String n = name; n != null; n = byName.containsKey(n) ? byName.get(n).parentName()
        : null) {
      if (n.equals(ancestor)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The snapshots {@code filter} selects, in topological order (every parent before its
   * children; siblings oldest first).
   *
   * @throws NotFoundException if {@code filter.descendantsOf()} names no snapshot
   */
  public List<SnapshotDef> list(SnapshotFilter filter) {
    List<SnapshotDef> candidates;
    if (filter.descendantsOf() != null) {
      get(filter.descendantsOf());
      candidates = filter.directChildrenOnly() ? children(filter.descendantsOf())
          : descendants(filter.descendantsOf());
    } else if (filter.roots()) {
      candidates = children(null);
    } else {
      candidates = topological();
    }
    return candidates.stream().filter(s -> filter.matches(this, s)).toList();
  }

  /** All snapshots, parents before children (depth first, siblings oldest first). */
  public List<SnapshotDef> topological() {
    return depthFirst(children(null));
  }

  private List<SnapshotDef> depthFirst(List<SnapshotDef> starts) {
    List<SnapshotDef> out = new ArrayList<>();
    Deque<SnapshotDef> stack = new ArrayDeque<>();
    for (int i = starts.size() - 1; i >= 0; i--) {
      stack.push(starts.get(i));
    }
    while (!stack.isEmpty()) {
      SnapshotDef s = stack.pop();
      out.add(s);
      List<SnapshotDef> kids = children(s.name());
      for (int i = kids.size() - 1; i >= 0; i--) {
        stack.push(kids.get(i));
      }
    }
    return out;
  }

  private static final Comparator<SnapshotDef> ORDER =
      Comparator.comparingLong(SnapshotDef::creationTime).thenComparing(SnapshotDef::name);
}
