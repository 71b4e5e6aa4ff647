package dev.cryo.client;

import java.util.List;

/**
 * One page of a listing, for callers that page themselves ({@code listPage} methods); the plain
 * {@code list} methods page through every page for you. Pass {@link #nextPageToken} to the next
 * {@code listPage} call with the same arguments otherwise: a token given with another filter is
 * refused ({@code INVALID_ARGUMENT}).
 *
 * @param items this page's items, in the listing's stable order
 * @param nextPageToken the token of the next page; empty on the last page
 */
public record Page<T>(List<T> items, String nextPageToken) {
  public Page {
    items = List.copyOf(items);
  }

  /** Whether another page follows. */
  public boolean hasNext() {
    return !nextPageToken.isEmpty();
  }
}
