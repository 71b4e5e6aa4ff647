package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.api.v1.Domain;
import dev.cryo.api.v1.DomainState;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.Role;
import dev.cryo.server.error.InvalidArgumentException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Paging of a listing: sizes, tokens, resumption after changes, refusals (AIP-158). */
@Timeout(30)
class PagesTest {
  private static final Principal ALICE = new Principal("alice", Role.ADMIN, Set.of());
  private static final Principal BOB = new Principal("bob", Role.ADMIN, Set.of());

  private static List<String> names(int n) {
    return IntStream.range(0, n).mapToObj(i -> String.format("d%05d", i)).toList();
  }

  private static Pages.Page<Domain> page(Principal who, ListDomainsRequest req, List<String> all,
      Pages.Order order) {
    return Pages.page(who, req, all, s -> s, s -> Domain.newBuilder().setName(s).build(), order);
  }

  private static List<String> pageThrough(List<String> all, int size, Pages.Order order) {
    return pageThrough(all, size, order, Math.max(1, (all.size() + size - 1) / size));
  }

  private static List<String> pageThrough(List<String> all, int size, Pages.Order order,
      int expectedCalls) {
    List<String> seen = new ArrayList<>();
    String token = "";
    int calls = 0;
    do {
      Pages.Page<Domain> p = page(ALICE, ListDomainsRequest.newBuilder().setPageSize(size)
          .setPageToken(token).build(), all, order);
      assertThat(p.items().size()).isLessThanOrEqualTo(size);
      p.items().forEach(d -> seen.add(d.getName()));
      token = p.nextPageToken();
      calls++;
    } while (!token.isEmpty());
    assertThat(calls).as("calls").isEqualTo(expectedCalls);
    return seen;
  }

  @Test
  void page_everySize_eachItemOnceInOrder() {
    List<String> all = names(23);
    for (int size : new int[] {1, 2, 5, 22, 23, 24}) {
      assertThat(pageThrough(all, size, Pages.Order.BY_KEY)).as("size " + size)
          .containsExactlyElementsOf(all);
      assertThat(pageThrough(all, size, Pages.Order.STABLE)).as("size " + size)
          .containsExactlyElementsOf(all);
    }
    assertThat(pageThrough(List.of(), 5, Pages.Order.BY_KEY)).isEmpty();
  }

  @Test
  void page_zeroSize_takesDefault_andLargeSizeIsCoerced() {
    List<String> all = names(2500);
    Pages.Page<Domain> first = page(ALICE, ListDomainsRequest.getDefaultInstance(), all,
        Pages.Order.BY_KEY);
    assertThat(first.items()).hasSize(Pages.DEFAULT_SIZE);
    assertThat(first.nextPageToken()).isNotEmpty();
    Pages.Page<Domain> big = page(ALICE, ListDomainsRequest.newBuilder().setPageSize(5000)
        .build(), all, Pages.Order.BY_KEY);
    assertThat(big.items()).hasSize(Pages.MAX_SIZE);
    assertThat(pageThrough(all, 5000, Pages.Order.BY_KEY, 3)).containsExactlyElementsOf(all);
  }

  @Test
  void page_negativeSize_isInvalidArgument() {
    assertThatThrownBy(() -> page(ALICE, ListDomainsRequest.newBuilder().setPageSize(-1).build(),
        names(3), Pages.Order.BY_KEY)).isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("page_size -1 is negative").hasMessageContaining("use 0");
  }

  @Test
  void page_garbledToken_isInvalidArgument() {
    List<String> all = names(10);
    String token = page(ALICE, ListDomainsRequest.newBuilder().setPageSize(3).build(), all,
        Pages.Order.BY_KEY).nextPageToken();
    for (String bad : List.of("not base64!", "AA", token.substring(0, token.length() - 3),
        token + "AAAA", "x" + token.substring(1))) {
      assertThatThrownBy(() -> page(ALICE, ListDomainsRequest.newBuilder().setPageSize(3)
          .setPageToken(bad).build(), all, Pages.Order.BY_KEY)).as(bad)
          .isInstanceOf(InvalidArgumentException.class)
          .hasMessageContaining("page_token")
          .hasMessageContaining("leave page_token empty");
    }
  }

  @Test
  void page_tokenWithOtherFilterOrCaller_isInvalidArgument() {
    List<String> all = names(10);
    String token = page(ALICE, ListDomainsRequest.newBuilder().setPageSize(3).build(), all,
        Pages.Order.BY_KEY).nextPageToken();
    ListDomainsRequest otherFilter = ListDomainsRequest.newBuilder().setPageSize(3)
        .addStates(DomainState.DOMAIN_STATE_RUNNING).setPageToken(token).build();
    assertThatThrownBy(() -> page(ALICE, otherFilter, all, Pages.Order.BY_KEY))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("made for a different request");
    ListDomainsRequest same = ListDomainsRequest.newBuilder().setPageSize(3).setPageToken(token)
        .build();
    assertThatThrownBy(() -> page(BOB, same, all, Pages.Order.BY_KEY))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("same caller");
    // Only page_size may change between pages.
    assertThat(page(ALICE, same.toBuilder().setPageSize(7).build(), all, Pages.Order.BY_KEY)
        .items()).extracting(Domain::getName).containsExactlyElementsOf(all.subList(3, 10));
  }

  @Test
  void page_lastItemDeleted_resumesByKeyOrByPosition() {
    List<String> all = new ArrayList<>(List.of("a", "b", "c", "d", "e", "f"));
    ListDomainsRequest first = ListDomainsRequest.newBuilder().setPageSize(3).build();
    String byKey = page(ALICE, first, all, Pages.Order.BY_KEY).nextPageToken();
    String byPosition = page(ALICE, first, all, Pages.Order.STABLE).nextPageToken();
    all.remove("c");
    all.add(0, "0");
    ListDomainsRequest.Builder next = first.toBuilder();
    assertThat(page(ALICE, next.setPageToken(byKey).build(), all, Pages.Order.BY_KEY).items())
        .extracting(Domain::getName).containsExactly("d", "e", "f");
    assertThat(page(ALICE, next.setPageToken(byPosition).build(), all, Pages.Order.STABLE)
        .items()).extracting(Domain::getName).containsExactly("d", "e", "f");
  }

  @Test
  void page_largeItems_stopAtByteBudget() {
    String mib = "x".repeat(1 << 20);
    List<String> all = List.of("a" + mib, "b" + mib, "c" + mib, "d" + mib, "e" + mib);
    Pages.Page<Domain> first = page(ALICE, ListDomainsRequest.newBuilder().setPageSize(10)
        .build(), all, Pages.Order.STABLE);
    assertThat(first.items()).hasSize(2);
    assertThat(first.nextPageToken()).isNotEmpty();
    assertThat(pageThrough(all, 10, Pages.Order.STABLE, 3)).containsExactlyElementsOf(all);
  }
}
