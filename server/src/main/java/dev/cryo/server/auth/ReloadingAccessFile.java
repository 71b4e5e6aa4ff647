package dev.cryo.server.auth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The access file as it is now: read at start, re-read when it changes ({@link #poll()}, which
 * the server calls every few seconds) or when the operator asks ({@link #reloadNow()}, on
 * SIGHUP). A new file that does not parse is logged, naming its bad line, and the previous one
 * stays in force: a typo must not lock everyone out, nor let everyone in.
 *
 * <p>Change is detected by content (SHA-256 of the bytes), read through the path each time. That
 * sees every way of replacing a file: written in place, renamed over (editors, {@code install},
 * Ansible), a symbolic link switched (Kubernetes ConfigMaps), where a watch on the file's inode
 * or a modification time of one-second granularity can miss one. A file being written in place
 * could be read half-written yet parse (cut at a line end) and briefly drop principals, so
 * {@link #poll()} applies new content only once two successive polls read the same bytes.
 *
 * <p>Thread-safe: {@link #current()} is a volatile read; reloads are serialized on this object.
 */
public final class ReloadingAccessFile {
  private static final Logger log = LoggerFactory.getLogger(ReloadingAccessFile.class);

  private final Path file;
  private final List<Consumer<AccessFile>> listeners = new CopyOnWriteArrayList<>();
  private volatile AccessFile current;
  /** Guarded by this: hashes of the bytes in force, last polled, last refused. */
  private byte[] appliedHash;
  private byte[] polledHash;
  private byte[] rejectedHash;

  private ReloadingAccessFile(Path file, AccessFile first, byte[] hash) {
    this.file = file;
    this.current = first;
    this.appliedHash = hash;
    this.polledHash = hash;
  }

  /**
   * Reads the file for the first time.
   *
   * @throws IOException if it cannot be read or does not parse (naming the line): the server
   *     must not start without a valid access file
   */
  public static ReloadingAccessFile open(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    return new ReloadingAccessFile(file, AccessFile.parse(file.toString(), bytes), sha256(bytes));
  }

  /** The access file in force. */
  public AccessFile current() {
    return current;
  }

  /** The file this reads. */
  public Path file() {
    return file;
  }

  /**
   * Calls {@code listener} with each new access file once it is in force, on the thread that
   * reloaded it. Used to end calls whose principal a reload revoked.
   */
  public void onChange(Consumer<AccessFile> listener) {
    listeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * Re-reads the file and applies it if its content changed and was the same at the previous
   * poll. Never throws: an unreadable or bad file is logged once and the old one kept.
   *
   * @return whether a new access file came into force
   */
  public boolean poll() {
    return reload(false);
  }

  /**
   * Re-reads the file and applies it at once if it changed (the operator says it is complete, as
   * with SIGHUP). A bad file is logged, even if it was before, and the old one kept.
   *
   * @return whether a new access file came into force
   */
  public boolean reloadNow() {
    return reload(true);
  }

  private boolean reload(boolean now) {
    AccessFile next;
    synchronized (this) {
      byte[] bytes;
      try {
        bytes = Files.readAllBytes(file);
      } catch (IOException e) {
        if (now || rejectedHash == null || rejectedHash.length != 0) {
          log.error("cannot read the access file {} ({}); keeping the one read before", file,
              e.toString());
        }
        rejectedHash = new byte[0];
        return false;
      }
      byte[] hash = sha256(bytes);
      boolean stable = Arrays.equals(hash, polledHash);
      polledHash = hash;
      if (Arrays.equals(hash, appliedHash) || (!now && !stable)) {
        return false;
      }
      if (!now && Arrays.equals(hash, rejectedHash)) {
        return false;
      }
      try {
        next = AccessFile.parse(file.toString(), bytes);
      } catch (IOException e) {
        rejectedHash = hash;
        log.error("not reloading the access file: {}; keeping the one read before",
            e.getMessage());
        return false;
      }
      appliedHash = hash;
      rejectedHash = null;
      current = next;
      log.info("access file {} reloaded", file);
      for (Consumer<AccessFile> listener : listeners) {
        try {
          listener.accept(next);
        } catch (RuntimeException e) {
          log.error("error while applying the reloaded access file", e);
        }
      }
    }
    return true;
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }
}
