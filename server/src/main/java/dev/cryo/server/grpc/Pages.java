package dev.cryo.server.grpc;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.InvalidArgumentException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.function.Function;

/**
 * Paging of the List RPCs, as Google's AIP-158 describes it: every List request has {@code
 * page_size} and {@code page_token}, every response {@code next_page_token}, empty on the last
 * page. The core returns the whole ordered listing the caller may see (tenancy is applied there,
 * so a tenant pages through its own domains alone); this cuts one page out of it and converts
 * only that page to protos.
 *
 * <p>A token is opaque to clients: base64url of a version byte, a fingerprint of the request
 * (SHA-256 over the caller's name, the request type and every field but the two paging ones,
 * first 16 bytes), the count of items before the next page, and the last key (name) of the page
 * just returned. The next page starts after that key; if the item is gone (deleted in between),
 * a listing sorted by key starts after where the key would sort, and a topological one at the same
 * count. A token replayed with another filter, domain or caller fails the fingerprint:
 * INVALID_ARGUMENT, never a page of a listing the token was not made for.
 */
final class Pages {
  /**
   * The page size when a request asks for none (0). As large as the maximum, so that a client
   * written before paging existed, which never sends a page token, still gets every item of a
   * listing of up to this many.
   */
  static final int DEFAULT_SIZE = 1000;
  /** Larger page sizes are taken as this. */
  static final int MAX_SIZE = 1000;
  /**
   * A page stops before it would pass this many bytes of items, whatever the page size, so that
   * it stays under gRPC's default 4 MiB message limit (a snapshot carries its XML, a few KiB).
   */
  static final int MAX_BYTES = 3 << 20;

  private static final byte VERSION = 1;
  private static final int FINGERPRINT_BYTES = 16;

  private Pages() {}

  /** How a listing is ordered, which decides where the next page starts when its key is gone. */
  enum Order {
    /** Sorted by key: the next page starts after where the last key sorts. */
    BY_KEY,
    /** Any other stable order (a tree's): the next page starts at the same count. */
    STABLE
  }

  /** One page of protos and the token of the next one ("" on the last page). */
  record Page<M>(List<M> items, String nextPageToken) {}

  /**
   * Cuts the page {@code request} asks for out of {@code ordered}.
   *
   * @param caller whose listing it is: a token only works for the caller it was given to
   * @param request the List request, with int32 {@code page_size} and string {@code page_token}
   * @param ordered everything the request selects, in the listing's stable order
   * @param key each item's unique key within the listing (its name)
   * @param toProto converts an item of the page
   * @throws InvalidArgumentException for a negative page size, or a token that is garbled or was
   *     made for another request or caller
   */
  static <T, M extends Message> Page<M> page(Principal caller, Message request, List<T> ordered,
      Function<T, String> key, Function<T, M> toProto, Order order) {
    FieldDescriptor sizeField = field(request, "page_size");
    FieldDescriptor tokenField = field(request, "page_token");
    int size = (Integer) request.getField(sizeField);
    String tokenText = (String) request.getField(tokenField);
    if (size < 0) {
      throw new InvalidArgumentException("page_size " + size + " is negative; use 0 for the "
          + "default (" + DEFAULT_SIZE + ") or 1 to " + MAX_SIZE);
    }
    size = size == 0 ? DEFAULT_SIZE : Math.min(size, MAX_SIZE);
    byte[] fingerprint = fingerprint(caller,
        request.toBuilder().clearField(sizeField).clearField(tokenField).build());

    int start = 0;
    if (!tokenText.isEmpty()) {
      Token token = Token.decode(tokenText);
      if (!MessageDigest.isEqual(token.fingerprint, fingerprint)) {
        throw new InvalidArgumentException("page_token was made for a different request: a "
            + "token only works with the same request (domain, filter) and the same caller as "
            + "the call that returned it; repeat that request with only page_token changed, or "
            + "leave page_token empty to start from the first page");
      }
      start = resume(ordered, key, token, order);
    }

    List<M> out = new ArrayList<>();
    long bytes = 0;
    int i = start;
    for (; i < ordered.size() && out.size() < size; i++) {
      M m = toProto.apply(ordered.get(i));
      bytes += m.getSerializedSize() + 8;
      if (!out.isEmpty() && bytes > MAX_BYTES) {
        break;
      }
      out.add(m);
    }
    String next = i < ordered.size()
        ? new Token(fingerprint, i, key.apply(ordered.get(i - 1))).encode() : "";
    return new Page<>(out, next);
  }

  private static <T> int resume(List<T> ordered, Function<T, String> key, Token token,
      Order order) {
    for (int i = 0; i < ordered.size(); i++) {
      if (key.apply(ordered.get(i)).equals(token.lastKey)) {
        return i + 1;
      }
    }
    if (order == Order.BY_KEY) {
      for (int i = 0; i < ordered.size(); i++) {
        if (key.apply(ordered.get(i)).compareTo(token.lastKey) > 0) {
          return i;
        }
      }
      return ordered.size();
    }
    return Math.min(token.position, ordered.size());
  }

  private static FieldDescriptor field(Message request, String name) {
    FieldDescriptor f = request.getDescriptorForType().findFieldByName(name);
    if (f == null) {
      throw new IllegalArgumentException(request.getDescriptorForType().getFullName()
          + " has no field " + name);
    }
    return f;
  }

  private static byte[] fingerprint(Principal caller, Message filter) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(caller.name().getBytes(StandardCharsets.UTF_8));
      sha.update((byte) 0);
      sha.update(filter.getDescriptorForType().getFullName().getBytes(StandardCharsets.UTF_8));
      sha.update((byte) 0);
      sha.update(filter.toByteArray());
      return Arrays.copyOf(sha.digest(), FINGERPRINT_BYTES);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java has SHA-256", e);
    }
  }

  /** What a page token holds. */
  private record Token(byte[] fingerprint, int position, String lastKey) {
    String encode() {
      byte[] k = lastKey.getBytes(StandardCharsets.UTF_8);
      ByteBuffer b = ByteBuffer.allocate(1 + FINGERPRINT_BYTES + 4 + 4 + k.length);
      b.put(VERSION).put(fingerprint).putInt(position).putInt(k.length).put(k);
      return Base64.getUrlEncoder().withoutPadding().encodeToString(b.array());
    }

    static Token decode(String text) {
      try {
        ByteBuffer b = ByteBuffer.wrap(Base64.getUrlDecoder().decode(text));
        if (b.get() != VERSION) {
          throw garbled();
        }
        byte[] fp = new byte[FINGERPRINT_BYTES];
        b.get(fp);
        int position = b.getInt();
        int len = b.getInt();
        if (position < 0 || len < 0 || len != b.remaining()) {
          throw garbled();
        }
        byte[] k = new byte[len];
        b.get(k);
        return new Token(fp, position, new String(k, StandardCharsets.UTF_8));
      } catch (IllegalArgumentException | BufferUnderflowException e) {
        throw garbled();
      }
    }

    private static InvalidArgumentException garbled() {
      return new InvalidArgumentException("page_token is not a token this server issued (it "
          + "was changed or cut); pass the next_page_token of the previous response unchanged, "
          + "or leave page_token empty to start from the first page");
    }
  }
}
