package dev.cryo.server.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code qemu-img} for images no QEMU has open: bitmaps of a stopped domain, creating backup
 * targets, reading a finished backup target's allocation map. Argument lists only, never a shell;
 * file names are passed after the options so none can be read as one.
 */
final class QemuImg {
  private static final Duration TIMEOUT = Duration.ofMinutes(10);

  private QemuImg() {}

  static String binary() {
    return System.getProperty("cryo.qemu-img", "qemu-img");
  }

  /** Adds a persistent, enabled bitmap to a qcow2 image. */
  static void addBitmap(Path image, String bitmap) {
    run(List.of(binary(), "bitmap", "--add", "-f", "qcow2", image.toString(), bitmap));
  }

  static void removeBitmap(Path image, String bitmap) {
    run(List.of(binary(), "bitmap", "--remove", "-f", "qcow2", image.toString(), bitmap));
  }

  /** Merges bitmap {@code source} into bitmap {@code target} of the same image. */
  static void mergeBitmap(Path image, String source, String target) {
    run(List.of(binary(), "bitmap", "--merge", source, "-f", "qcow2", image.toString(), target));
  }

  /** Names of the persistent bitmaps of a qcow2 image ({@code -U}: also while QEMU has it). */
  static Set<String> bitmaps(Path image) {
    String out = run(List.of(binary(), "info", "-U", "--output=json", "-f", "qcow2",
        image.toString()));
    Set<String> names = new HashSet<>();
    JsonObject info = JsonParser.parseString(out).getAsJsonObject();
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
  static void createQcow2(Path image, long sizeBytes) {
    run(List.of(binary(), "create", "-q", "-f", "qcow2", image.toString(),
        Long.toString(sizeBytes)));
  }

  /** One entry of {@code qemu-img map --output=json}. */
  record MapEntry(long start, long length, boolean present, boolean zero, boolean data,
      long offset) {}

  /** The allocation map of a qcow2 image. */
  static List<MapEntry> map(Path image) {
    String out = run(List.of(binary(), "map", "--output=json", "-f", "qcow2", image.toString()));
    List<MapEntry> entries = new ArrayList<>();
    JsonArray array = JsonParser.parseString(out).getAsJsonArray();
    for (JsonElement e : array) {
      JsonObject o = e.getAsJsonObject();
      entries.add(new MapEntry(o.get("start").getAsLong(), o.get("length").getAsLong(),
          !o.has("present") || o.get("present").getAsBoolean(),
          o.get("zero").getAsBoolean(), o.get("data").getAsBoolean(),
          o.has("offset") ? o.get("offset").getAsLong() : -1));
    }
    return entries;
  }

  /** Runs {@code argv}; returns stdout, or throws with qemu-img's own message. */
  static String run(List<String> argv) {
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(
          Path.of("/dev/null").toFile())).start();
    } catch (IOException e) {
      throw new InternalException("cannot run " + argv.get(0) + ": " + e.getMessage(), e);
    }
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(
        p.getErrorStream()));
    String out = readAll(p.getInputStream());
    try {
      if (!p.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new InternalException("qemu-img " + argv.get(1) + " did not finish in "
            + TIMEOUT.toMinutes() + " min");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new InternalException("interrupted while running qemu-img", e);
    }
    if (p.exitValue() != 0) {
      throw new FailedPreconditionException("qemu-img " + argv.get(1) + " failed: "
          + err.join().strip());
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
