package dev.cryo.client;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Full and incremental backups of running domains. Every method throws {@link CryoException}:
 * NOT_FOUND for an unknown domain or checkpoint, ABORTED while another backup runs,
 * FAILED_PRECONDITION for a stopped domain or a lost bitmap.
 */
public interface Backups {
  /**
   * The same calls without blocking: streamed backups as an {@link Operation} with progress,
   * cancel and a {@code CompletableFuture} result; the rest as futures.
   */
  AsyncBackups async();
  /**
   * Starts a push backup into new qcow2 files on the server and returns once it runs.
   *
   * @param targets target device → absolute path of a file to create (must not exist)
   */
  BackupJob startPush(String domain, BackupOptions options, Map<String, Path> targets);

  /**
   * The running or last backup of the domain, in backup terms. A running backup is also the
   * domain's job: {@link Domains#job} shows it with the progress of every other job.
   */
  BackupJob job(String domain);

  /**
   * Cancels the running backup; returns once the server has cleaned up. {@link Domains#abortJob}
   * does the same without waiting.
   */
  BackupJob cancel(String domain);

  /** Receives a streamed backup, on the thread that called {@link #stream}. */
  interface Receiver {
    /** Called once before the first extent with each disk's virtual size in bytes. */
    default void begin(Map<String, Long> diskSizes) throws IOException {}

    /**
     * Called once before the first extent, instead of {@link #begin(Map)} (which it calls by
     * default), with each disk's virtual size and the bytes of data the server will send: the
     * non-zero extents' lengths, what {@link BackupJob#bytesDone()} reports at the end. Zero
     * extents cover the rest of a full backup without being sent.
     *
     * @param dataBytes bytes of data to follow, or -1 when the server did not say
     */
    default void begin(Map<String, Long> diskSizes, long dataBytes) throws IOException {
      begin(diskSizes);
    }

    /** One extent. Its data may be kept; the SDK does not reuse it. */
    void extent(BackupExtent extent) throws IOException;
  }

  /**
   * Runs a backup streamed to this client and hands each extent to {@code receiver} on the
   * calling thread; the server sends the next one only after {@code receiver} returns (flow
   * control), so memory stays bounded however large the disk.
   *
   * @return the final job state
   */
  BackupJob stream(String domain, BackupOptions options, Receiver receiver);

  /**
   * Streams a backup into local raw image files: extents are written at their offsets, zero
   * extents as zeros, and each file is made as long as the disk. A full backup into new files
   * followed by incrementals into the same files reconstructs the disks.
   *
   * @param files target device → raw file (created if missing)
   */
  BackupJob streamToRawFiles(String domain, BackupOptions options, Map<String, Path> files);
}
