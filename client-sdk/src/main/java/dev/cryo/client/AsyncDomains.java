package dev.cryo.client;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * {@link Domains} without blocking: each method starts the call and returns at once. Obtain it
 * from {@link Domains#async()}. Methods, arguments, deadlines and retries are those of {@link
 * Domains}; see there for what each call does.
 *
 * <p>Each future completes on a gRPC thread with the value the blocking call returns, or
 * exceptionally with a {@link CryoException} carrying the code the blocking call would throw.
 * Cancelling a future ({@code cancel(true)}) cancels its call. Chain with {@code thenApply} and
 * friends; do not block inside them (use {@code ...Async} variants with your own executor).
 *
 * <p>{@link Domains#console} never blocks (it opens a stream), so it has no counterpart here.
 */
public interface AsyncDomains {
  /** A view whose calls each have {@code deadline} instead of the client's default. */
  AsyncDomains withDeadline(Duration deadline);

  /** @see Domains#define(String) */
  CompletableFuture<Defined> define(String xml);

  /** @see Domains#define(DomainConfig) */
  CompletableFuture<Domain> define(DomainConfig config);

  /** @see Domains#undefine(String) */
  default CompletableFuture<Void> undefine(String name) {
    return undefine(name, false);
  }

  /** @see Domains#undefine(String, boolean) */
  CompletableFuture<Void> undefine(String name, boolean removeManagedSave);

  /** @see Domains#start(String) */
  CompletableFuture<Domain> start(String name);

  /** @see Domains#start(String, boolean, boolean) */
  CompletableFuture<Domain> start(String name, boolean paused, boolean forceBoot);

  /** @see Domains#suspend(String) */
  CompletableFuture<Domain> suspend(String name);

  /** @see Domains#resume(String) */
  CompletableFuture<Domain> resume(String name);

  /** @see Domains#changeMedia(String, String, String) */
  CompletableFuture<Domain> changeMedia(String name, String target, String iso);

  /** @see Domains#shutdown(String, Duration) */
  CompletableFuture<Domain> shutdown(String name, Duration timeout);

  /** @see Domains#destroy(String) */
  CompletableFuture<Domain> destroy(String name);

  /** @see Domains#get(String) */
  CompletableFuture<Domain> get(String name);

  /** @see Domains#list(Set) */
  CompletableFuture<List<Domain>> list(Set<DomainState> states);

  /** @see Domains#xml(String) */
  CompletableFuture<String> xml(String name);

  /** @see Domains#job(String) */
  CompletableFuture<Optional<DomainJob>> job(String name);

  /** @see Domains#abortJob(String) */
  CompletableFuture<DomainJob> abortJob(String name);

  /**
   * Subscribes to lifecycle events (see {@link Domains#watch(String, Consumer, Consumer)}); the
   * future completes with the subscription's handle once the server has it in place, so no later
   * event is missed, or exceptionally if it is not in place within the deadline.
   */
  CompletableFuture<AutoCloseable> watch(String name, Consumer<DomainEvent> listener,
      Consumer<CryoException> onFailure);

  /** @see Domains#watch(String, Consumer) */
  default CompletableFuture<AutoCloseable> watch(String name, Consumer<DomainEvent> listener) {
    return watch(name, listener, failure -> { });
  }
}
