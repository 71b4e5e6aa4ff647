package dev.cryo.server.domain;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import java.util.HashMap;
import java.util.Map;

/**
 * How many domain jobs may run at once, on the whole server and per principal, so one caller
 * cannot tie up every QEMU and disk of the host. Past a limit a new job fails at once with
 * RESOURCE_EXHAUSTED; it does not queue.
 */
public final class JobLimits {
  /** Defaults for a small host: a few saves or backups at a time saturate its disks anyway. */
  public static final JobLimits DEFAULT = new JobLimits(16, 8);

  private final int perServer;
  private final int perPrincipal;
  /** Guarded by {@code this}. */
  private int running;
  private final Map<String, Integer> byPrincipal = new HashMap<>();

  public JobLimits(int perServer, int perPrincipal) {
    if (perServer < 1 || perPrincipal < 1) {
      throw new IllegalArgumentException("job limits must be at least 1, got " + perServer
          + " per server and " + perPrincipal + " per principal");
    }
    this.perServer = perServer;
    this.perPrincipal = perPrincipal;
  }

  /** Takes a slot for {@code caller}; run the result to give it back. */
  synchronized Runnable acquire(Principal caller, String what) {
    int mine = byPrincipal.getOrDefault(caller.name(), 0);
    if (running >= perServer) {
      throw new CryoException(
              Reason.JOB_LIMIT,
              "the server already runs "
                  + running
                  + " jobs, its limit; retry "
                  + what
                  + " when one has finished")
          .with("limit", "server");
    }
    if (mine >= perPrincipal) {
      throw new CryoException(
              Reason.JOB_LIMIT,
              "principal '"
                  + caller.name()
                  + "' already runs "
                  + mine
                  + " jobs, its limit; retry "
                  + what
                  + " when one has finished")
          .with("limit", "principal")
          .with("principal", caller.name());
    }
    running++;
    byPrincipal.put(caller.name(), mine + 1);
    return () -> release(caller.name());
  }

  private synchronized void release(String principal) {
    running--;
    byPrincipal.computeIfPresent(principal, (k, n) -> n <= 1 ? null : n - 1);
  }
}
