package dev.cryo.server.qemu;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code qemu-img}, for what QMP cannot do on images no QEMU has open: internal snapshots
 * ({@code snapshot -c/-a/-d}), overlays ({@code create -b}), persistent bitmaps of a stopped
 * domain ({@code bitmap}), new qcow2 files and allocation maps ({@code map}). Argv lists only; a
 * caller's path is one argument, never part of a shell string, and file names come after the
 * options. Output is parsed from {@code --output=json} where there is one. Thread-safe.
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
    JsonObject info = JsonParser.parseString(json).getAsJsonObject();
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
    long size = JsonParser.parseString(json).getAsJsonObject()
        .get("virtual-size").getAsLong();
    run("create", "-q", "-f", "qcow2", "-F", format, "-b", backing.toString(), "-u",
        overlay.toString(), Long.toString(size));
  }

  /** Adds a persistent, enabled bitmap to a qcow2 image. */
  public void addBitmap(Path image, String bitmap) throws IOException {
    run("bitmap", "--add", "-f", "qcow2", image.toString(), bitmap);
  }

  public void removeBitmap(Path image, String bitmap) throws IOException {
    run("bitmap", "--remove", "-f", "qcow2", image.toString(), bitmap);
  }

  /** Merges bitmap {@code source} into bitmap {@code target} of the same image. */
  public void mergeBitmap(Path image, String source, String target) throws IOException {
    run("bitmap", "--merge", source, "-f", "qcow2", image.toString(), target);
  }

  /** Names of the persistent bitmaps of a qcow2 image ({@code -U}: also while QEMU has it). */
  public Set<String> bitmaps(Path image) throws IOException {
    JsonObject info = JsonParser.parseString(
        run("info", "-U", "--output=json", "-f", "qcow2", image.toString())).getAsJsonObject();
    Set<String> names = new HashSet<>();
    JsonObject specific = info.getAsJsonObject("format-specific");
    if (specific != null && specific.has("data")
        && specific.getAsJsonObject("data").has("bitmaps")) {
      for (JsonElement b : specific.getAsJsonObject("data").getAsJsonArray("bitmaps")) {
        names.add(b.getAsJsonObject().get("name").getAsString());
      }
    }
    return names;
  }

  /** Creates an empty qcow2 image of {@code sizeBytes}. */
  public void createQcow2(Path image, long sizeBytes) throws IOException {
    run("create", "-q", "-f", "qcow2", image.toString(), Long.toString(sizeBytes));
  }

  /** One entry of {@code qemu-img map --output=json}. */
  public record MapEntry(long start, long length, boolean present, boolean zero, boolean data,
      long offset) {}

  /** The allocation map of a qcow2 image. */
  public List<MapEntry> map(Path image) throws IOException {
    List<MapEntry> entries = new ArrayList<>();
    for (JsonElement e : JsonParser.parseString(
        run("map", "--output=json", "-f", "qcow2", image.toString())).getAsJsonArray()) {
      JsonObject o = e.getAsJsonObject();
      entries.add(new MapEntry(o.get("start").getAsLong(), o.get("length").getAsLong(),
          !o.has("present") || o.get("present").getAsBoolean(),
          o.get("zero").getAsBoolean(), o.get("data").getAsBoolean(),
          o.has("offset") ? o.get("offset").getAsLong() : -1));
    }
    return entries;
  }

  /** One image of a backing chain: its file and format. */
  public record ChainImage(Path file, String format) {}

  /**
   * The backing chain of {@code top}, top first ({@code info --backing-chain}; {@code -U}, so
   * also while QEMU has it open).
   */
  public List<ChainImage> backingChain(Path top) throws IOException {
    List<ChainImage> chain = new ArrayList<>();
    for (JsonElement e : JsonParser.parseString(run("info", "--backing-chain", "--output=json",
        "-U", top.toString())).getAsJsonArray()) {
      JsonObject o = e.getAsJsonObject();
      chain.add(new ChainImage(Path.of(o.get("filename").getAsString()),
          o.get("format").getAsString()));
    }
    return chain;
  }

  /**
   * Writes the data of qcow2 {@code overlay} into its backing file ({@code commit}); the overlay
   * is left as it was (callers delete it), so its own overlays stay valid until rebased.
   */
  public void commit(Path overlay) throws IOException {
    run("commit", "-q", "-f", "qcow2", "-d", overlay.toString());
  }

  /**
   * Points qcow2 {@code image} at another backing file without copying ({@code rebase -u}):
   * only correct when the new backing file holds the same data as the old one.
   */
  public void rebaseUnsafe(Path image, Path backing, String backingFormat) throws IOException {
    run("rebase", "-u", "-f", "qcow2", "-F", backingFormat, "-b", backing.toString(),
        image.toString());
  }

  /** Runs qemu-img; returns its stdout (kept apart from stderr, so JSON stays parseable). */
  private String run(String... args) throws IOException {
    List<String> argv = new ArrayList<>();
    argv.add(binary.toString());
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv)
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(
        p.getErrorStream()));
    String out = readAll(p.getInputStream());
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
      throw new QemuImgException(err.join().strip().replace(binary.toString() + ": ", ""));
    }
    return out;
  }

  private static String readAll(InputStream in) {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
