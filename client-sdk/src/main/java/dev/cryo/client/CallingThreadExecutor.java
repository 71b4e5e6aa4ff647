package dev.cryo.client;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Runs an {@link Operation}'s local I/O (writing a save into a stream, reading an image to
 * upload, handing backup extents to a receiver) on the thread of the blocking call that waits
 * for it, as grpc-java's blocking stubs run their callbacks (its {@code ThreadlessExecutor}).
 * So the blocking and asynchronous styles share one implementation, and a blocking call still
 * reads and writes the caller's streams on the caller's thread. One per blocking call.
 */
final class CallingThreadExecutor implements Executor {
  private static final Runnable WAKE = () -> { };

  private final BlockingQueue<Runnable> tasks = new LinkedBlockingQueue<>();

  @Override
  public void execute(Runnable task) {
    tasks.add(task);
  }

  /**
   * Runs tasks until {@code op} completes, then returns its result or throws its failure as a
   * {@link CryoException}. An interrupt cancels the operation and throws {@code CANCELLED} with
   * the interrupt flag restored. Tasks still queued when it completes are dropped: the operation
   * no longer needs them.
   */
  <T> T await(Operation<T> op) {
    CompletableFuture<T> result = op.result();
    result.whenComplete((value, failure) -> tasks.add(WAKE));
    try {
      while (!result.isDone()) {
        tasks.take().run();
      }
    } catch (InterruptedException e) {
      op.cancel();
      throw CryoException.from(e);
    }
    return FutureCalls.await(result);
  }
}
