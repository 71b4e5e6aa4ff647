package dev.cryo.server.snapshot;

/**
 * libvirt's snapshot list flags. Within a group the flags are alternatives (OR); the groups
 * combine with AND; a group with no flag set does not filter.
 *
 * @param roots only snapshots without a parent
 * @param descendantsOf only the descendants of this snapshot (null: no such limit)
 * @param directChildrenOnly with {@code descendantsOf}, only its children
 * @param leaves / nonLeaves group: with no children / with children
 * @param inactive / active / diskOnly group: of a shut-off domain / with memory / disk-only
 * @param internal / external group: where the data lives
 */
public record SnapshotFilter(boolean roots, String descendantsOf, boolean directChildrenOnly,
    boolean leaves, boolean nonLeaves, boolean inactive, boolean active, boolean diskOnly,
    boolean internal, boolean external) {

  /** No filtering: every snapshot. */
  public static final SnapshotFilter ALL =
      new SnapshotFilter(false, null, false, false, false, false, false, false, false, false);

  boolean matches(SnapshotTree tree, SnapshotDef s) {
    if ((leaves || nonLeaves)) {
      boolean leaf = tree.children(s.name()).isEmpty();
      if (!((leaves && leaf) || (nonLeaves && !leaf))) {
        return false;
      }
    }
    if (inactive || active || diskOnly) {
      String state = s.state();
      boolean ok = (inactive && "shutoff".equals(state))
          || (active && ("running".equals(state) || "paused".equals(state)))
          || (diskOnly && "disk-snapshot".equals(state));
      if (!ok) {
        return false;
      }
    }
    if (internal || external) {
      boolean ext = s.isExternal();
      if (!((internal && !ext) || (external && ext))) {
        return false;
      }
    }
    return true;
  }
}
