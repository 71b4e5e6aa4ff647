package dev.cryo.server.jobs;

import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InternalException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops a save or restore from another thread: owns the cancelled flag of one job and the
 * sockets and streams that job is blocked on, closed when it is cancelled.
 */
public final class Cancel {
  private static final Logger log = LoggerFactory.getLogger(Cancel.class);

  /** Guarded by {@code this}. */
  private boolean cancelled;
  private final List<AutoCloseable> onCancel = new ArrayList<>();

  /** Marks the work cancelled and closes what it is blocked on. */
  public void cancel() {
    List<AutoCloseable> toClose;
    synchronized (this) {
      if (cancelled) {
        return;
      }
      cancelled = true;
      toClose = List.copyOf(onCancel);
    }
    for (AutoCloseable c : toClose) {
      close(c);
    }
  }

  public synchronized boolean isCancelled() {
    return cancelled;
  }

  /** Closes {@code c} when cancelled (at once if already cancelled). */
  void closeOnCancel(AutoCloseable c) {
    boolean now;
    synchronized (this) {
      now = cancelled;
      if (!now) {
        onCancel.add(c);
      }
    }
    if (now) {
      close(c);
    }
  }

  private static void close(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.debug("closing on cancel", e);
    }
  }

  void check() {
    if (isCancelled()) {
      throw new CancelledException("cancelled by the client");
    }
  }

  /**
   * What a job that failed with {@code e} throws: CANCELLED if it was cancelled (whatever the
   * closed socket made it throw), a Cryo error as it is, anything else INTERNAL.
   *
   * @param what what the job could not do, e.g. "save domain 'vm1'"
   */
  RuntimeException failure(Exception e, String what) {
    if (isCancelled()) {
      return e instanceof CancelledException ce ? ce
          : new CancelledException("cancelled by the client", e);
    }
    if (e instanceof CryoException ce) {
      return ce;
    }
    if (e instanceof RuntimeException r && !(e instanceof IllegalStateException)) {
      return r;
    }
    return new InternalException("could not " + what + ": " + e.getMessage(), e);
  }
}
