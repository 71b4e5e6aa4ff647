package dev.cryo.server.domain;

import java.io.PrintStream;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Named instants inside long operations where a test can stop the server, as etcd's failpoints
 * do: a server started with {@code --fail-point NAME} prints {@code CRYO_FAIL_POINT NAME} on
 * stdout when it reaches that instant and hangs there, so the test can {@code kill -9} it at
 * exactly that instant and check what the next server recovers. None are armed in production.
 */
public final class FailPoints {
  /** Between an external snapshot's memory save (guest paused) and its disk switch. */
  public static final String SNAPSHOT_MEMORY_SAVED = "snapshot-memory-saved";

  /** After an external snapshot's disk switch, before its definition and metadata are written. */
  public static final String SNAPSHOT_DISKS_SWITCHED = "snapshot-disks-switched";

  public static final Set<String> ALL = Set.of(SNAPSHOT_MEMORY_SAVED, SNAPSHOT_DISKS_SWITCHED);
  public static final FailPoints NONE = new FailPoints(Set.of(), System.out);

  private static final Logger log = LoggerFactory.getLogger(FailPoints.class);

  private final Set<String> armed;
  private final PrintStream out;

  /**
   * @param armed the names to stop at, each one of {@link #ALL}
   * @param out where the machine-readable line goes (the server's stdout)
   */
  public FailPoints(Set<String> armed, PrintStream out) {
    for (String name : armed) {
      if (!ALL.contains(name)) {
        throw new IllegalArgumentException(
            "unknown fail point '" + name + "'; known: " + new java.util.TreeSet<>(ALL));
      }
    }
    this.armed = Set.copyOf(armed);
    this.out = out;
  }

  /** Hangs the calling thread for good if {@code name} is armed; returns at once otherwise. */
  public void reach(String name) {
    if (!armed.contains(name)) {
      return;
    }
    log.warn("fail point '{}' reached: this thread stops here until the server is killed", name);
    out.println("CRYO_FAIL_POINT " + name);
    out.flush();
    while (true) {
      LockSupport.park(this);
      // An interrupt (a cancelled call) does not end the stop: only the kill does.
      Thread.interrupted();
    }
  }
}
