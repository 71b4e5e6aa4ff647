package dev.cryo.server.domain;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.AbortedException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.Reason;
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
   * Takes the domain's job for {@code what}, waiting up to {@link #JOB_WAIT}. A thread that already
   * holds the job gets a nested handle: the job stays the outer one (its name, progress and abort
   * hook), so an operation built from others (a snapshot that saves memory) reports as one.
   *
   * @param caller on whose behalf: the job counts against its limit ({@link JobLimits})
   * @throws AbortedException if another job still holds the domain
   * @throws dev.cryo.server.error.ResourceExhaustedException if {@code caller} or the server
   *     already runs as many jobs as it may
   */
  public Job beginJob(Principal caller, String what) {
    if (job.isHeldByCurrentThread()) {
      job.lock();
      return new Job(null, current);
    }
    boolean acquired;
    try {
      acquired = job.tryLock(JOB_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AbortedException("interrupted while waiting for domain '" + name + "'", e);
    }
    if (!acquired) {
      throw new CryoException(
              Reason.DOMAIN_BUSY,
              "domain '" + name + "' is busy with " + jobName + "; retry when it has finished")
          .with("domain", name)
          .with("job", jobName);
    }
    Runnable release;
    try {
      release = limits.acquire(caller, what + " of domain '" + name + "'");
    } catch (RuntimeException e) {
      job.unlock();
      throw e;
    }
    jobName = what;
    JobProgress progress = new JobProgress(what, Instant.now());
    current = progress;
    return new Job(release, progress);
  }

  /**
   * What the domain's job is doing now, or null when it has none: what libvirt's
   * virDomainGetJobStats reports. Never blocks on the job.
   */
  public JobInfo jobInfo() {
    JobProgress p = current;
    return p == null ? null : p.info();
  }

  /**
   * Aborts the domain's job, as virDomainAbortJob: asks it to stop and returns at once; the job's
   * own call then fails with CANCELLED after undoing its work.
   *
   * @return the job as it was when asked
   * @throws FailedPreconditionException if the domain has no job, or its job cannot be aborted
   */
  public JobInfo abortJob() {
    JobProgress p = current;
    if (p == null) {
      throw new FailedPreconditionException("domain '" + name + "' has no job to abort");
    }
    if (!p.abort()) {
      throw new FailedPreconditionException("the " + p.operation + " job of domain '" + name
          + "' cannot be aborted; wait for it to finish");
    }
    return p.info();
  }

  /** The job currently holding the domain, for {@link #jobInfo}; null when none. */
  private volatile JobProgress current;

  /**
   * A held job; closing releases it. The holder reports its progress and says how to abort it;
   * both are read by other threads (GetDomainJob, AbortDomainJob).
   */
  public final class Job implements AutoCloseable {
    private final Runnable releaseLimit;
    private final JobProgress progress;
    private boolean released;

    private Job(Runnable releaseLimit, JobProgress progress) {
      this.releaseLimit = releaseLimit;
      this.progress = progress;
    }

    /**
     * Reports where the job is.
     *
     * @param phase what it does now, e.g. "memory" or "disks"
     * @param processedBytes bytes done so far
     * @param totalBytes bytes to do, or 0 when not known
     */
    public void progress(String phase, long processedBytes, long totalBytes) {
      if (progress != null) {
        progress.set(phase, processedBytes, totalBytes);
      }
    }

    /**
     * Says how to abort the job from another thread ({@code null}: it cannot be aborted now).
     * The hook must not block; if an abort was asked before the hook was set, it runs at once.
     */
    public void onAbort(Runnable hook) {
      if (progress != null) {
        progress.onAbort(hook);
      }
    }

    /**
     * Asks the job to abort even if it has no hook yet: it stops at its next check ({@link
     * #abortRequested}) or as soon as it sets a hook.
     */
    void requestAbort() {
      if (progress != null) {
        progress.requestAbort();
      }
    }

    /** Whether an abort was asked. */
    public boolean abortRequested() {
      return progress != null && progress.abortRequested();
    }

    @Override
    public void close() {
      if (!released) {
        released = true;
        if (releaseLimit != null) {
          // The outer handle: the domain is free again.
          current = null;
          jobName = null;
          releaseLimit.run();
        }
        job.unlock();
      }
    }
  }

  /** The mutable state behind {@link JobInfo}; guarded by {@code this}. */
  private static final class JobProgress {
    private final String operation;
    private final Instant started;
    private String phase = "";
    private long processed;
    private long total;
    private Runnable abortHook;
    private boolean abortRequested;

    JobProgress(String operation, Instant started) {
      this.operation = operation;
      this.started = started;
    }

    synchronized void set(String phase, long processed, long total) {
      this.phase = phase;
      this.processed = processed;
      this.total = total;
    }

    void onAbort(Runnable hook) {
      boolean runNow;
      synchronized (this) {
        abortHook = hook;
        runNow = abortRequested && hook != null;
      }
      if (runNow) {
        hook.run();
      }
    }

    /** Runs the hook; false if there is none (the job cannot be aborted now). */
    boolean abort() {
      Runnable hook;
      synchronized (this) {
        if (abortHook == null) {
          return false;
        }
        abortRequested = true;
        hook = abortHook;
      }
      hook.run();
      return true;
    }

    void requestAbort() {
      Runnable hook;
      synchronized (this) {
        abortRequested = true;
        hook = abortHook;
      }
      if (hook != null) {
        hook.run();
      }
    }

    synchronized boolean abortRequested() {
      return abortRequested;
    }

    synchronized JobInfo info() {
      return new JobInfo(operation, started, Duration.between(started, Instant.now()), phase,
          processed, total, abortHook != null, abortRequested);
    }
  }
}
