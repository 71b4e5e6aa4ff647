package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class FutureCallsTest {
  @Test
  void allPages_followsTokensToTheLastPage_inOrder() throws Exception {
    List<String> asked = new ArrayList<>();
    CompletableFuture<List<Integer>> all = FutureCalls.allPages(token -> {
      asked.add(token);
      return CompletableFuture.completedFuture(switch (token) {
        case "" -> new Page<>(List.of(1, 2), "b");
        case "b" -> new Page<>(List.of(3), "c");
        default -> new Page<>(List.of(4, 5), "");
      });
    });
    assertThat(all.get()).containsExactly(1, 2, 3, 4, 5);
    assertThat(asked).containsExactly("", "b", "c");
  }

  @Test
  void allPages_failedPage_failsTheList_andCancellingTheListCancelsThePageInFlight() {
    CryoException gone = new CryoException(CryoException.ErrorCode.NOT_FOUND, "gone", null);
    CompletableFuture<List<Integer>> failed = FutureCalls.allPages(token -> token.isEmpty()
        ? CompletableFuture.completedFuture(new Page<>(List.of(1), "b"))
        : CompletableFuture.failedFuture(gone));
    assertThatThrownBy(failed::get).isInstanceOf(ExecutionException.class).hasCause(gone);

    CompletableFuture<Page<Integer>> inFlight = new CompletableFuture<>();
    CompletableFuture<List<Integer>> all = FutureCalls.allPages(token -> inFlight);
    all.cancel(true);
    assertThat(inFlight).isCancelled();
  }
}
