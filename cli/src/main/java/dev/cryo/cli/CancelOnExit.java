package dev.cryo.cli;

import dev.cryo.client.Cancellation;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C during a long call: the JVM runs its shutdown hooks, and this one cancels the call (the
 * server then undoes it: a saving guest resumes, a half-restored QEMU is killed) and waits a
 * little for the call to end, so the cancel reaches the server before the connection drops.
 */
final class CancelOnExit implements AutoCloseable {
  /** Long enough for the server to hear the cancel, short enough not to annoy. */
  private static final long WAIT_SECONDS = 10;

  private final Cancellation cancellation = new Cancellation();
  private final CountDownLatch ended = new CountDownLatch(1);
  private final Thread hook = new Thread(this::onExit, "cancel-on-exit");

  CancelOnExit() {
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** The token to hand to the SDK call. */
  Cancellation cancellation() {
    return cancellation;
  }

  private void onExit() {
    if (ended.getCount() == 0) {
      return;
    }
    System.err.println("cryo: cancelling...");
    cancellation.cancel();
    try {
      ended.await(WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The call has ended: an exit from now on has nothing to cancel. */
  @Override
  public void close() {
    ended.countDown();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // Already exiting: the hook sees the latch at zero.
    }
  }
}
