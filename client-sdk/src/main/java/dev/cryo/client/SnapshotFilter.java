package dev.cryo.client;

/**
 * Which snapshots {@link Snapshots#list} returns: libvirt's list flags. Within a group any flag
 * matches; groups combine with AND; a group with no flag does not filter. {@link #ALL} selects
 * everything; derive others with the {@code with...} methods.
 *
 * @param descendantsOf only descendants of this snapshot (null: no limit)
 * @param directChildrenOnly with descendantsOf: only its children
 */
public record SnapshotFilter(boolean roots, String descendantsOf, boolean directChildrenOnly,
    boolean leaves, boolean nonLeaves, boolean inactive, boolean active, boolean diskOnly,
    boolean internal, boolean external) {

  public static final SnapshotFilter ALL =
      new SnapshotFilter(false, null, false, false, false, false, false, false, false, false);

  public SnapshotFilter withRoots() {
    return new SnapshotFilter(true, descendantsOf, directChildrenOnly, leaves, nonLeaves,
        inactive, active, diskOnly, internal, external);
  }

  public SnapshotFilter withDescendantsOf(String name, boolean directOnly) {
    return new SnapshotFilter(roots, name, directOnly, leaves, nonLeaves, inactive, active,
        diskOnly, internal, external);
  }

  public SnapshotFilter withLeaves(boolean leaves, boolean nonLeaves) {
    return new SnapshotFilter(roots, descendantsOf, directChildrenOnly, leaves, nonLeaves,
        inactive, active, diskOnly, internal, external);
  }

  public SnapshotFilter withStates(boolean inactive, boolean active, boolean diskOnly) {
    return new SnapshotFilter(roots, descendantsOf, directChildrenOnly, leaves, nonLeaves,
        inactive, active, diskOnly, internal, external);
  }

  public SnapshotFilter withLocations(boolean internal, boolean external) {
    return new SnapshotFilter(roots, descendantsOf, directChildrenOnly, leaves, nonLeaves,
        inactive, active, diskOnly, internal, external);
  }
}
