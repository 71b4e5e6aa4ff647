package dev.cryo.client;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * {@link Images} without blocking. Obtain it from {@link Images#async()}. Saves, restores and
 * transfers return an {@link Operation} at once: its result, its progress, and cancel; the short
 * calls return a {@link CompletableFuture}. Arguments and failures are those of {@link Images}.
 *
 * <p>Local I/O (writing a save into a file or stream, reading an image to upload) runs on the
 * client's own I/O threads, one chunk at a time, never on gRPC's; flow control still holds the
 * server to the pace of that I/O, so memory stays bounded. The {@link Cancellation} in the
 * options, {@link Operation#cancel()} and {@code result().cancel(true)} all cancel the call.
 */
public interface AsyncImages {
  /** @see Images#saveToServer */
  Operation<SaveSummary> saveToServer(String name, String serverPath, SaveOptions options);

  /** @see Images#saveManaged */
  Operation<SaveSummary> saveManaged(String name, SaveOptions options);

  /** @see Images#save(String, OutputStream, SaveOptions); {@code out} is written on I/O threads */
  Operation<SaveSummary> save(String name, OutputStream out, SaveOptions options);

  /**
   * @see Images#save(String, Path, SaveOptions); a failed or cancelled save leaves no file
   */
  Operation<SaveSummary> save(String name, Path localFile, SaveOptions options);

  /** @see Images#restore(InputStream, String, long, RestoreOptions); read on I/O threads */
  Operation<Restored> restore(InputStream image, String sha256, long payloadBytes,
      RestoreOptions options);

  /** @see Images#restore(Path, RestoreOptions); progress counts the file's bytes sent */
  Operation<Restored> restore(Path localFile, RestoreOptions options);

  /** @see Images#restoreFromServer */
  Operation<Restored> restoreFromServer(String serverPath, RestoreOptions options);

  /** @see Images#restoreManaged; progress from the domain's job */
  Operation<Restored> restoreManaged(String name, RestoreOptions options);

  /**
   * @see Images#transfer; progress is the save's. Cancelling before the target has the guest
   *     leaves it where it was (running or paused as before).
   */
  Operation<Transferred> transfer(String name, SaveOptions save, Images target,
      RestoreOptions restore);

  /** @see Images#info */
  CompletableFuture<ImageInfo> info(String serverPath);

  /** @see Images#infoOfHead */
  CompletableFuture<ImageInfo> infoOfHead(byte[] head);

  /** @see Images#updateXml */
  CompletableFuture<String> updateXml(String serverPath, String xml);

  /** @see Images#hasManagedSave */
  CompletableFuture<Boolean> hasManagedSave(String name);

  /** @see Images#removeManagedSave */
  CompletableFuture<Void> removeManagedSave(String name);
}
