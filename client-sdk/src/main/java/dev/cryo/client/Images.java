package dev.cryo.client;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;

/**
 * Save and restore of domains through libvirt-compatible save images. Image streams use gRPC flow
 * control: nothing buffers a whole image, in the client or the server. Every method blocks until
 * done and throws {@link CryoException} on failure; {@link #async()} starts the same calls
 * without blocking.
 */
public interface Images {
  /**
   * The same calls without blocking: saves, restores and transfers as an {@link Operation} with
   * progress, cancel and a {@code CompletableFuture} result; the rest as futures.
   */
  AsyncImages async();

  /**
   * Saves a domain into a file on the server (inside one of its image folders).
   *
   * @throws CryoException PERMISSION_DENIED outside the image folders; FAILED_PRECONDITION if
   *     the domain is not running; CANCELLED if cancelled (the guest carries on as before)
   */
  SaveSummary saveToServer(String name, String serverPath, SaveOptions options);

  /** Saves a domain into its managed save slot; its next start restores it. */
  SaveSummary saveManaged(String name, SaveOptions options);

  /** Saves a domain and streams the image into {@code out} (not closed). */
  SaveSummary save(String name, OutputStream out, SaveOptions options);

  /**
   * Saves a domain into a local file. The file is written under a temporary name and renamed at
   * the end; a failed save leaves no file.
   */
  SaveSummary save(String name, Path localFile, SaveOptions options);

  /**
   * Restores a domain from an image read from {@code image} (not closed).
   *
   * @param sha256 the payload digest from the save's summary, or null to rely on the digest in
   *     the image (images Cryo saved to a file have one)
   * @throws CryoException DATA_LOSS if the image is truncated or does not match its digest;
   *     INVALID_ARGUMENT if it is not a save image; FAILED_PRECONDITION if the domain runs
   */
  Restored restore(InputStream image, String sha256, long payloadBytes, RestoreOptions options);

  /** Restores a domain from a local image file. */
  Restored restore(Path localFile, RestoreOptions options);

  /** Restores a domain from an image file on the server. */
  Restored restoreFromServer(String serverPath, RestoreOptions options);

  /** Restores a domain from its managed save, which is then deleted. */
  Restored restoreManaged(String name, RestoreOptions options);

  /**
   * Saves {@code name} here and restores it on {@code target} (another server), streaming the
   * image from one to the other without touching disk, with flow control end to end and bounded
   * memory. The source stays paused until the target has the guest, so a failed restore loses
   * nothing; the result reports the guest's downtime.
   */
  Transferred transfer(String name, SaveOptions save, Images target, RestoreOptions restore);

  /** The facts of an image file on the server. */
  ImageInfo info(String serverPath);

  /** The facts of an image from its first bytes (1 MiB is enough). */
  ImageInfo infoOfHead(byte[] head);

  /** Replaces the domain XML of an image file on the server; returns the XML as stored. */
  String updateXml(String serverPath, String xml);

  /** Whether the domain has a managed save image. */
  boolean hasManagedSave(String name);

  /** Deletes the domain's managed save image. */
  void removeManagedSave(String name);
}
