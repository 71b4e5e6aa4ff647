package dev.cryo.client;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * {@link Checkpoints} without blocking. Obtain it from {@link Checkpoints#async()}. Every call is
 * short, so each returns a future; arguments and failures are those of {@link Checkpoints}.
 */
public interface AsyncCheckpoints {
  /** @see Checkpoints#create */
  CompletableFuture<Checkpoint> create(String domain, String xml);

  /** @see Checkpoints#redefine */
  CompletableFuture<Checkpoint> redefine(String domain, String xml);

  /** @see Checkpoints#get */
  CompletableFuture<Checkpoint> get(String domain, String name);

  /** @see Checkpoints#getWithSize */
  CompletableFuture<Checkpoint> getWithSize(String domain, String name);

  /** @see Checkpoints#xml */
  CompletableFuture<String> xml(String domain, String name, boolean excludeDomain);

  /** @see Checkpoints#list(String) */
  default CompletableFuture<List<Checkpoint>> list(String domain) {
    return list(domain, Checkpoints.Filter.ALL);
  }

  /** @see Checkpoints#list(String, Checkpoints.Filter) */
  CompletableFuture<List<Checkpoint>> list(String domain, Checkpoints.Filter filter);

  /** @see Checkpoints#children */
  CompletableFuture<List<Checkpoint>> children(String domain, String name);

  /** @see Checkpoints#parent */
  CompletableFuture<Checkpoint> parent(String domain, String name);

  /** @see Checkpoints#current */
  CompletableFuture<Checkpoint> current(String domain);

  /** @see Checkpoints#delete(String, String) */
  default CompletableFuture<List<String>> delete(String domain, String name) {
    return delete(domain, name, Checkpoints.DeleteMode.ONE, false);
  }

  /** @see Checkpoints#delete(String, String, Checkpoints.DeleteMode, boolean) */
  CompletableFuture<List<String>> delete(String domain, String name, Checkpoints.DeleteMode mode,
      boolean metadataOnly);
}
