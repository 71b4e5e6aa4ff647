package dev.cryo.client;

import java.time.Instant;
import java.util.List;

/**
 * A domain snapshot as the server stores it.
 *
 * @param parent the parent's name, or null for a root
 * @param creationTime when it was taken (second precision, as libvirt)
 * @param memory where the guest memory is kept; {@link Location#NO} for disk-only and offline
 * @param memoryFile the memory state file of an external snapshot, or null
 * @param current whether it is the domain's current snapshot
 * @param external whether any part lives in external files
 * @param xml the {@code <domainsnapshot>} document, with the recorded domain definition
 */
public record Snapshot(String name, String domain, String description, State state,
    String parent, Instant creationTime, Location memory, String memoryFile, List<Disk> disks,
    boolean current, boolean external, String xml) {

  /** The domain's state when the snapshot was taken. */
  public enum State { RUNNING, PAUSED, SHUTOFF, DISK_SNAPSHOT, UNKNOWN }

  /** Where memory or a disk is kept; {@link #DEFAULT} lets the server choose. */
  public enum Location { DEFAULT, NO, INTERNAL, EXTERNAL, MANUAL }

  /**
   * One disk of a snapshot, or of a snapshot request.
   *
   * @param name the domain disk's target, e.g. {@code vda}
   * @param file for external: the overlay file (absolute path), or null for the default name
   * @param format for external: the overlay format ({@code qcow2}); ignored in requests
   */
  public record Disk(String name, Location location, String file, String format) {
    /** A request entry. */
    public static Disk of(String name, Location location, String file) {
      return new Disk(name, location, file, null);
    }
  }
}
