package dev.cryo.server.checkpoint;

import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The checkpoints of one domain as a tree (libvirt's {@code virDomainMomentObjList}): each
 * checkpoint names its parent, the one that was current when it was created. Pure logic, no I/O:
 * {@link CheckpointStore} persists it. Not thread-safe; the owner guards it.
 *
 * <p>Every listing is in topological order (a parent before its children; siblings by creation
 * time, then name), so it satisfies libvirt's TOPOLOGICAL flag whether or not it was asked for.
 */
public final class CheckpointTree {
  private final String domain;
  private final Map<String, CheckpointDef> byName = new HashMap<>();
  private String current;

  public CheckpointTree(String domain) {
    this.domain = domain;
  }

  /** Which checkpoints {@link #list} returns; libvirt's virDomainListAllCheckpoints flags. */
  public record Filter(boolean rootsOnly, boolean leavesOnly, boolean noLeaves) {
    public static final Filter ALL = new Filter(false, false, false);
  }

  /**
   * Adds a checkpoint whose parent is already in the tree (or null).
   *
   * @throws AlreadyExistsException if the name is taken
   * @throws NotFoundException if the parent is unknown
   */
  public void add(CheckpointDef def) {
    if (byName.containsKey(def.getName())) {
      throw new CryoException(
              Reason.CHECKPOINT_EXISTS,
              "domain '"
                  + domain
                  + "' already has a checkpoint named '"
                  + def.getName()
                  + "'; choose another name or delete that one first")
          .with("domain", domain)
          .with("checkpoint", def.getName());
    }
    if (def.getParent() != null && !byName.containsKey(def.getParent())) {
      throw new CryoException(
              Reason.CHECKPOINT_NOT_FOUND,
              "parent checkpoint '"
                  + def.getParent()
                  + "' of '"
                  + def.getName()
                  + "' does not exist in domain '"
                  + domain
                  + "'")
          .with("domain", domain)
          .with("checkpoint", def.getParent());
    }
    byName.put(def.getName(), def);
  }

  /** Replaces a checkpoint's metadata in place (same name, e.g. a redefine of an existing one). */
  public void replace(CheckpointDef def) {
    get(def.getName());
    byName.put(def.getName(), def);
  }

  public boolean contains(String name) {
    return byName.containsKey(name);
  }

  /** @throws NotFoundException if there is no checkpoint {@code name} */
  public CheckpointDef get(String name) {
    CheckpointDef def = byName.get(name);
    if (def == null) {
      throw new CryoException(
              Reason.CHECKPOINT_NOT_FOUND,
              "domain '" + domain + "' has no checkpoint named '" + name + "'")
          .with("domain", domain)
          .with("checkpoint", name);
    }
    return def;
  }

  public boolean isEmpty() {
    return byName.isEmpty();
  }

  public int size() {
    return byName.size();
  }

  /** The checkpoint a new one gets as its parent, or null. */
  public String current() {
    return current;
  }

  public void setCurrent(String name) {
    if (name != null) {
      get(name);
    }
    current = name;
  }

  /** The children of {@code name} (of nobody: the roots, when null), ordered. */
  public List<CheckpointDef> children(String name) {
    if (name != null) {
      get(name);
    }
    List<CheckpointDef> out = new ArrayList<>();
    for (CheckpointDef def : byName.values()) {
      if (java.util.Objects.equals(def.getParent(), name)) {
        out.add(def);
      }
    }
    out.sort(SIBLINGS);
    return out;
  }

  /** Every checkpoint below {@code name}, topologically ordered, without {@code name} itself. */
  public List<CheckpointDef> descendants(String name) {
    List<CheckpointDef> out = new ArrayList<>();
    Deque<CheckpointDef> pending = new ArrayDeque<>();
    List<CheckpointDef> first = children(name);
    for (int i = first.size() - 1; i >= 0; i--) {
      pending.push(first.get(i));
    }
    while (!pending.isEmpty()) {
      CheckpointDef def = pending.pop();
      out.add(def);
      List<CheckpointDef> kids = children(def.getName());
      for (int i = kids.size() - 1; i >= 0; i--) {
        pending.push(kids.get(i));
      }
    }
    return out;
  }

  /** The path from {@code name} up to its root: {@code name}, its parent, ... */
  public List<CheckpointDef> ancestry(String name) {
    List<CheckpointDef> out = new ArrayList<>();
    for (CheckpointDef def = get(name); def != null;
        def = def.getParent() == null ? null : byName.get(def.getParent())) {
      out.add(def);
    }
    return out;
  }

  public boolean isLeaf(String name) {
    return children(name).isEmpty();
  }

  /** The checkpoints that pass {@code filter}, topologically ordered. */
  public List<CheckpointDef> list(Filter filter) {
    List<CheckpointDef> all = filter.rootsOnly() ? children(null) : descendants(null);
    List<CheckpointDef> out = new ArrayList<>();
    for (CheckpointDef def : all) {
      boolean leaf = isLeaf(def.getName());
      if (filter.leavesOnly() && !leaf || filter.noLeaves() && leaf) {
        continue;
      }
      out.add(def);
    }
    return out;
  }

  /**
   * Removes {@code name}; its children become children of its parent, as in libvirt. If it was
   * current, its parent becomes current.
   */
  public void remove(String name) {
    CheckpointDef def = get(name);
    for (CheckpointDef child : children(name)) {
      child.setParent(def.getParent());
    }
    byName.remove(name);
    if (name.equals(current)) {
      current = def.getParent();
    }
  }

  private static final Comparator<CheckpointDef> SIBLINGS = Comparator
      .comparing((CheckpointDef d) -> d.getCreationTime() == null ? 0L : d.getCreationTime())
      .thenComparing(CheckpointDef::getName);
}
