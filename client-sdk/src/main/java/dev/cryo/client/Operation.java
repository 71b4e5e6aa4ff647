package dev.cryo.client;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * A long operation in progress (a save, restore, transfer, snapshot create or revert, streamed
 * backup), started by one of the {@code async()} views: its result, its latest progress, and a
 * way to cancel it.
 *
 * <p>Cancelling, by {@link #cancel()} or by {@code result().cancel(true)}, cancels the gRPC call,
 * and the server undoes the work as it does for any client that goes away: a saved guest carries
 * on, a half-restored QEMU is killed, an aborted snapshot is not listed, no partial file is left
 * on either side. The server finishes undoing shortly after the future completes; {@link
 * Domains#job} reports no job once it has.
 *
 * <pre>{@code
 * Operation<SaveSummary> save = cryo.images().async().save("vm1", Path.of("vm1.save"), opts);
 * save.onProgress(p -> System.out.printf("%s %d/%d%n", p.phase(), p.doneBytes(), p.totalBytes()));
 * save.result().thenAccept(s -> System.out.println("saved " + s.imageBytes() + " bytes"));
 * }</pre>
 *
 * @param <T> what the operation returns
 */
public interface Operation<T> {
  /**
   * Completes with the result, or exceptionally with a {@link CryoException} (its code as the
   * blocking call would throw), or with a {@link java.util.concurrent.CancellationException}
   * after {@code result().cancel(...)}.
   */
  CompletableFuture<T> result();

  /** The latest progress report; {@link Progress#STARTING} before the first. Never blocks. */
  Progress progress();

  /**
   * Calls {@code listener} with each later progress report, on a gRPC or SDK thread, in order.
   * Keep it short: it delays the next report.
   *
   * @return this operation
   */
  Operation<T> onProgress(Consumer<Progress> listener);

  /**
   * Cancels the operation: the call ends, {@link #result()} completes exceptionally with a
   * {@link CryoException} whose code is {@code CANCELLED}, and the server undoes the work. Does
   * nothing once the result is complete.
   */
  void cancel();
}
