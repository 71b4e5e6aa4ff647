package dev.cryo.client;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@link Backups} without blocking. Obtain it from {@link Backups#async()}. Streamed backups
 * return an {@link Operation} (progress: data bytes received of those announced); the rest
 * return futures. Arguments and failures are those of {@link Backups}.
 */
public interface AsyncBackups {
  /** @see Backups#startPush */
  CompletableFuture<BackupJob> startPush(String domain, BackupOptions options,
      Map<String, Path> targets);

  /** @see Backups#job */
  CompletableFuture<BackupJob> job(String domain);

  /** @see Backups#cancel */
  CompletableFuture<BackupJob> cancel(String domain);

  /**
   * @see Backups#stream; {@code receiver} is called on the client's I/O threads, one call at a
   *     time and in order, and the server sends the next extent only after it returns
   */
  Operation<BackupJob> stream(String domain, BackupOptions options, Backups.Receiver receiver);

  /** @see Backups#streamToRawFiles */
  Operation<BackupJob> streamToRawFiles(String domain, BackupOptions options,
      Map<String, Path> files);
}
