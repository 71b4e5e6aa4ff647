package dev.cryo.client;

import java.util.ArrayList;
import java.util.List;

/**
 * Cancels a save or restore from another thread: the call in progress ends with {@link
 * CryoException.ErrorCode#CANCELLED}, and the server undoes it (a saved guest resumes, a
 * half-restored QEMU is killed). One token may cancel several calls.
 */
public final class Cancellation {
  /** Guarded by {@code this}. */
  private boolean cancelled;
  private final List<Runnable> hooks = new ArrayList<>();

  public void cancel() {
    List<Runnable> run;
    synchronized (this) {
      if (cancelled) {
        return;
      }
      cancelled = true;
      run = List.copyOf(hooks);
      hooks.clear();
    }
    run.forEach(Runnable::run);
  }

  public synchronized boolean isCancelled() {
    return cancelled;
  }

  void onCancel(Runnable hook) {
    boolean now;
    synchronized (this) {
      now = cancelled;
      if (!now) {
        hooks.add(hook);
      }
    }
    if (now) {
      hook.run();
    }
  }

  synchronized void remove(Runnable hook) {
    hooks.remove(hook);
  }
}
