package dev.cryo.server.domain;

import dev.cryo.server.error.AbortedException;
import dev.cryo.server.qemu.RunDir;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One defined domain: its definition, its state and, while active, its {@link RunningQemu}. What
 * libvirt calls a virDomainObj.
 *
 * <p>Long operations on a domain (start, save, snapshot, backup...) hold its job, one at a time;
 * a second one waits up to {@link #JOB_WAIT} and then fails with ABORTED, naming the job that holds
 * the domain. Destroy is the exception: it may kill QEMU under a running job, as in libvirt.
 */
public final class Domain {
  static final Duration JOB_WAIT = Duration.ofSeconds(5);

  private final String name;
  private final String uuid;
  private final RunDir runDir;
  private final ReentrantLock job = new ReentrantLock();
  private final JobLimits limits;
  /** What holds the job, for the ABORTED message; guarded by {@link #job}. */
  private volatile String jobName;

  /** Guarded by {@code this}. */
  private DomainDef def;
  private DomainState state = DomainState.SHUTOFF;
  private StateReason reason = StateReason.DEFINED;
  private Instant stateTime = Instant.now();
  private RunningQemu running;

  Domain(DomainDef def, RunDir runDir, JobLimits limits) {
    this.limits = limits;
    this.name = def.getName();
    this.uuid = def.getUuid();
    this.def = def;
    this.runDir = runDir;
  }

  public String name() {
    return name;
  }

  public String uuid() {
    return uuid;
  }

  public RunDir runDir() {
    return runDir;
  }

  public synchronized DomainDef def() {
    return def;
  }

  synchronized void setDef(DomainDef def) {
    this.def = def;
  }

  public synchronized DomainState state() {
    return state;
  }

  public synchronized StateReason reason() {
    return reason;
  }

  synchronized Instant stateTime() {
    return stateTime;
  }

  /** The live QEMU, or null when the domain is not active. */
  public synchronized RunningQemu running() {
    return running;
  }

  synchronized void setRunning(RunningQemu running) {
    this.running = running;
  }

  /** Sets the state; returns false if it was already exactly that. */
  synchronized boolean setState(DomainState newState, StateReason newReason) {
    if (state == newState && reason == newReason) {
      return false;
    }
    state = newState;
    reason = newReason;
    stateTime = Instant.now();
    return true;
  }

  /**
   * Takes the domain's job for {@code what}, waiting up to {@link #JOB_WAIT}.
   *
   * @throws AbortedException if another job still holds the domain
   */
  public Job beginJob(String what) {
    boolean acquired;
    try {
      acquired = job.tryLock(JOB_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AbortedException("interrupted while waiting for domain '" + name + "'", e);
    }
    if (!acquired) {
      throw new AbortedException("domain '" + name + "' is busy with " + jobName
          + "; retry when it has finished");
    }
    Runnable release;
    try {
      release = limits.acquire(what + " of domain '" + name + "'");
    } catch (RuntimeException e) {
      job.unlock();
      throw e;
    }
    jobName = what;
    return new Job(release);
  }

  /** A held job; closing releases it. */
  public final class Job implements AutoCloseable {
    private final Runnable releaseLimit;
    private boolean released;

    private Job(Runnable releaseLimit) {
      this.releaseLimit = releaseLimit;
    }

    @Override
    public void close() {
      if (!released) {
        released = true;
        jobName = null;
        releaseLimit.run();
        job.unlock();
      }
    }
  }
}
