package dev.cryo.client;

import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Unary calls on grpc-java's async stubs as {@link CompletableFuture}s, and the blocking wait on
 * them: the one path every unary SDK call takes, blocking or not.
 */
final class FutureCalls {
  private FutureCalls() {}

  /**
   * Every item of a paged listing: asks {@code page} for the first page, then for each next one
   * once the previous arrived. Cancelling the returned future cancels the page call in flight.
   */
  static <T> CompletableFuture<List<T>> allPages(
      Function<String, CompletableFuture<Page<T>>> page) {
    CompletableFuture<List<T>> all = new CompletableFuture<>();
    nextPage(page, "", new ArrayList<>(), all);
    return all;
  }

  private static <T> void nextPage(Function<String, CompletableFuture<Page<T>>> page,
      String token, List<T> items, CompletableFuture<List<T>> all) {
    CompletableFuture<Page<T>> call = page.apply(token);
    all.whenComplete((v, failure) -> {
      if (failure instanceof CancellationException) {
        call.cancel(true);
      }
    });
    call.whenComplete((p, failure) -> {
      if (failure != null) {
        all.completeExceptionally(failure);
        return;
      }
      items.addAll(p.items());
      if (p.nextPageToken().isEmpty()) {
        all.complete(List.copyOf(items));
      } else if (!all.isDone()) {
        nextPage(page, p.nextPageToken(), items, all);
      }
    });
  }

  /**
   * Starts {@code method(request)} and completes the returned future with {@code convert} of the
   * response, or exceptionally with a {@link CryoException}. Cancelling the returned future
   * cancels the call. The conversion runs in the gRPC callback, so the future the caller holds is
   * the one whose cancellation reaches the call (a {@code thenApply} stage would not).
   */
  static <Req, Resp, T> CompletableFuture<T> unary(Req request,
      BiConsumer<Req, StreamObserver<Resp>> method, Function<Resp, T> convert) {
    CompletableFuture<T> result = new CompletableFuture<>();
    method.accept(request, new ClientResponseObserver<Req, Resp>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<Req> call) {
        result.whenComplete((value, failure) -> {
          if (failure instanceof CancellationException) {
            call.cancel("cancelled by the caller", null);
          }
        });
      }

      @Override
      public void onNext(Resp value) {
        try {
          result.complete(convert.apply(value));
        } catch (RuntimeException e) {
          result.completeExceptionally(new CryoException(CryoException.ErrorCode.INTERNAL,
              "could not read the server's answer: " + e, e));
        }
      }

      @Override
      public void onError(Throwable t) {
        result.completeExceptionally(CryoException.from(t));
      }

      @Override
      public void onCompleted() {
        result.completeExceptionally(new CryoException(CryoException.ErrorCode.INTERNAL,
            "the server ended the call without an answer", null));
      }
    });
    return result;
  }

  /**
   * Waits for {@code future} on behalf of a blocking call. Throws its failure as a {@link
   * CryoException} created here, so its stack trace shows the caller; an interrupt cancels the
   * future (and so the call), restores the interrupt flag and throws {@code CANCELLED}.
   */
  static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (InterruptedException e) {
      future.cancel(true);
      throw CryoException.from(e);
    } catch (ExecutionException | CancellationException e) {
      throw atCaller(e);
    }
  }

  /** The failure of a completed future, as a CryoException thrown from the caller's stack. */
  static CryoException atCaller(Throwable failure) {
    if (failure instanceof CancellationException) {
      return new CryoException(CryoException.ErrorCode.CANCELLED, "cancelled by the caller",
          failure);
    }
    return CryoException.from(RunningOperation.unwrap(failure)).atCaller();
  }
}
