package dev.cryo.client;

import io.grpc.Context;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * {@link Operation}: the calls it starts run in its own cancellable gRPC context, which is
 * cancelled the moment the result completes for any reason, so a cancelled or failed operation
 * never leaves a call running. The result and progress reports are delivered in the caller's
 * context, not that one: a call the caller chains onto them must not die with the operation.
 */
final class RunningOperation<T> implements Operation<T> {
  private final CompletableFuture<T> result = new CompletableFuture<>();
  private final AtomicReference<Progress> progress = new AtomicReference<>(Progress.STARTING);
  private final List<Consumer<Progress>> listeners = new CopyOnWriteArrayList<>();
  private final Context origin = Context.current();
  private final Context.CancellableContext context = origin.withCancellation();

  /** @param tokens cancel this operation too; null ones are ignored */
  RunningOperation(Cancellation... tokens) {
    result.whenComplete((value, failure) -> context.cancel(failure == null ? null
        : new CryoException(CryoException.ErrorCode.CANCELLED, "the operation ended", failure)));
    for (Cancellation token : tokens) {
      if (token != null) {
        Runnable hook = this::cancel;
        token.onCancel(hook);
        result.whenComplete((value, failure) -> token.remove(hook));
      }
    }
  }

  /** Runs {@code start} in this operation's context: the calls it starts end with it. */
  void start(Runnable start) {
    if (!result.isDone()) {
      context.run(start);
    }
  }

  @Override
  public CompletableFuture<T> result() {
    return result;
  }

  @Override
  public Progress progress() {
    return progress.get();
  }

  @Override
  public Operation<T> onProgress(Consumer<Progress> listener) {
    listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
    return this;
  }

  @Override
  public void cancel() {
    result.completeExceptionally(new CryoException(CryoException.ErrorCode.CANCELLED,
        "cancelled by the caller", null));
  }

  void report(Progress p) {
    if (!result.isDone()) {
      progress.set(p);
      inOrigin(() -> listeners.forEach(l -> l.accept(p)));
    }
  }

  /** @return false if the result was already complete (cancelled meanwhile) */
  boolean complete(T value) {
    return inOrigin(() -> result.complete(value));
  }

  void fail(Throwable t) {
    CryoException e = CryoException.from(unwrap(t));
    inOrigin(() -> result.completeExceptionally(e));
  }

  /**
   * Polls the domain's job (what {@code virsh domjobinfo} shows) about twice a second and reports
   * its progress, for calls whose server reports progress only there (snapshots, restores from
   * server files), until the result completes.
   */
  void followJob(AsyncDomains domains, String domain) {
    CompletableFuture.delayedExecutor(500, java.util.concurrent.TimeUnit.MILLISECONDS).execute(
        () -> {
          if (result.isDone()) {
            return;
          }
          domains.job(domain).whenComplete((job, failure) -> {
            if (job != null) {
              job.ifPresent(j -> report(new Progress(j.phase(), j.processedBytes(),
                  j.totalBytes())));
            }
            followJob(domains, domain);
          });
        });
  }

  private boolean inOrigin(java.util.function.BooleanSupplier action) {
    Context previous = origin.attach();
    try {
      return action.getAsBoolean();
    } finally {
      origin.detach(previous);
    }
  }

  private void inOrigin(Runnable action) {
    inOrigin(() -> {
      action.run();
      return true;
    });
  }

  /** Completes this operation as {@code value} or {@code failure} say: a whenComplete target. */
  void settle(T value, Throwable failure) {
    if (failure != null) {
      fail(failure);
    } else {
      complete(value);
    }
  }

  static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
