package dev.cryo.server.grpc;

import dev.cryo.api.v1.TreeFilter;
import dev.cryo.server.error.InvalidArgumentException;

/**
 * The part of a snapshot or checkpoint tree a List request selects, whether it said so with the
 * shared {@link TreeFilter} or with its service's older fields: one meaning for both services.
 *
 * @param roots only roots
 * @param under only below this one (null: anywhere)
 * @param directOnly with {@code under}: only its direct children
 * @param leavesOnly only leaves
 * @param noLeaves only those with children
 */
record TreeSelection(boolean roots, String under, boolean directOnly, boolean leavesOnly,
    boolean noLeaves) {

  /**
   * The selection {@code tree} asks for.
   *
   * @param what "snapshot" or "checkpoint", for messages
   * @throws InvalidArgumentException for an empty name or an unknown leaf filter
   */
  static TreeSelection of(TreeFilter tree, String what) {
    boolean roots = false;
    String under = null;
    boolean direct = false;
    switch (tree.getScopeCase()) {
      case ROOTS -> roots = true;
      case CHILDREN_OF -> {
        under = name(tree.getChildrenOf(), "tree.children_of", what);
        direct = true;
      }
      case DESCENDANTS_OF -> under = name(tree.getDescendantsOf(), "tree.descendants_of", what);
      default -> { }
    }
    return switch (tree.getLeaves()) {
      case LEAF_FILTER_UNSPECIFIED -> new TreeSelection(roots, under, direct, false, false);
      case LEAF_FILTER_LEAVES_ONLY -> new TreeSelection(roots, under, direct, true, false);
      case LEAF_FILTER_NO_LEAVES -> new TreeSelection(roots, under, direct, false, true);
      default -> throw new InvalidArgumentException("tree.leaves " + tree.getLeavesValue()
          + " is not a LeafFilter this server knows; use LEAF_FILTER_LEAVES_ONLY, "
          + "LEAF_FILTER_NO_LEAVES or leave it unset");
    };
  }

  private static String name(String name, String field, String what) {
    if (name.isEmpty()) {
      throw new InvalidArgumentException(field + " needs the name of a " + what);
    }
    return name;
  }

  /** Refuses a request that sets both the shared filter and its service's older fields. */
  static void requireNotBoth(boolean hasTree, boolean oldFieldsSet, String oldFields) {
    if (hasTree && oldFieldsSet) {
      throw new InvalidArgumentException("set tree or the deprecated " + oldFields
          + ", not both; tree replaces them");
    }
  }
}
