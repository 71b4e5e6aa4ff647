package dev.cryo.server.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code qemu-img} for images no QEMU has open: internal snapshots ({@code snapshot -c/-a/-d/-l})
 * and overlays ({@code create -b}). Argv lists only; a caller's path is one argument, never part of
 * a shell string. Thread-safe.
 */
public final class QemuImg {
  private static final long TIMEOUT_MINUTES = 10;

  private final Path binary;

  public QemuImg(Path binary) {
    this.binary = binary;
  }

  /** The {@code qemu-img} beside {@code qemuSystem}, or the one in /usr/bin. */
  public static QemuImg besides(Path qemuSystem) {
    Path sibling = qemuSystem.toAbsolutePath().resolveSibling("qemu-img");
    return new QemuImg(Files.isExecutable(sibling) ? sibling : Path.of("/usr/bin/qemu-img"));
  }

  /** {@code qemu-img} failed; the message is its own error output. */
  public static final class QemuImgException extends IOException {
    private static final long serialVersionUID = 1L;

    QemuImgException(String message) {
      super(message);
    }
  }

  public void snapshotCreate(Path image, String tag) throws IOException {
    run("snapshot", "-c", tag, image.toString());
  }

  public void snapshotApply(Path image, String tag) throws IOException {
    run("snapshot", "-a", tag, image.toString());
  }

  public void snapshotDelete(Path image, String tag) throws IOException {
    run("snapshot", "-d", tag, image.toString());
  }

  /** The tags of the internal snapshots in {@code image}. */
  public List<String> snapshotTags(Path image) throws IOException {
    // qemu-img snapshot -l prints a table in which tags may contain spaces; the JSON is exact.
    String json = run("info", "--output=json", "-U", image.toString());
    List<String> tags = new ArrayList<>();
    com.google.gson.JsonObject info = com.google.gson.JsonParser.parseString(json)
        .getAsJsonObject();
    if (info.has("snapshots")) {
      for (var s : info.getAsJsonArray("snapshots")) {
        tags.add(s.getAsJsonObject().get("name").getAsString());
      }
    }
    return tags;
  }

  /**
   * Creates a qcow2 overlay whose backing file is {@code backing} (format {@code format}), of the
   * backing file's size. The backing file may be in use by a running QEMU: its size is read
   * without taking its lock ({@code info -U}) and the overlay is created without opening it
   * ({@code create -u}), since QEMU holds the write lock.
   */
  public void createOverlay(Path overlay, Path backing, String format) throws IOException {
    String json = run("info", "--output=json", "-U", "-f", format, backing.toString());
    long size = com.google.gson.JsonParser.parseString(json).getAsJsonObject()
        .get("virtual-size").getAsLong();
    run("create", "-q", "-f", "qcow2", "-F", format, "-b", backing.toString(), "-u",
        overlay.toString(), Long.toString(size));
  }

  private String run(String... args) throws IOException {
    List<String> argv = new ArrayList<>();
    argv.add(binary.toString());
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out;
    try (InputStream in = p.getInputStream()) {
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    try {
      if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new QemuImgException("qemu-img " + args[0] + " did not finish in "
            + TIMEOUT_MINUTES + " minutes");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while running qemu-img");
    }
    if (p.exitValue() != 0) {
      throw new QemuImgException(out.strip().replace(binary.toString() + ": ", ""));
    }
    return out;
  }
}
