package dev.cryo.server.domain;

/**
 * Lets a caller abort the job its own call started, and only that one: the gRPC adapter fires it
 * when the client cancels its call, so a cancelled CreateSnapshot stops that snapshot and never a
 * later job on the same domain. Thread-safe; firing before the job exists aborts it as it starts.
 */
public final class AbortSignal {
  /** Guarded by {@code this}. */
  private Domain.Job job;
  private boolean fired;

  /** Asks the attached job (or the one attached later) to abort. */
  public void fire() {
    Domain.Job j;
    synchronized (this) {
      fired = true;
      j = job;
    }
    if (j != null) {
      j.requestAbort();
    }
  }

  /** Binds this signal to {@code job}, the one the call holds. */
  public void attach(Domain.Job job) {
    boolean now;
    synchronized (this) {
      this.job = job;
      now = fired;
    }
    if (now) {
      job.requestAbort();
    }
  }
}
