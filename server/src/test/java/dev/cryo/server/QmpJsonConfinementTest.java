package dev.cryo.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * QMP JSON never leaves {@code qemu/}: only that package may use the JSON library (Gson); the
 * rest of the server speaks to QEMU through the typed {@code QemuMonitor}.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class QmpJsonConfinementTest {
  private static final Path SOURCES = Path.of("src/main/java/dev/cryo/server");
  private static final Pattern GSON =
      Pattern.compile("^import\\s+(static\\s+)?com\\.google\\.gson\\.", Pattern.MULTILINE);

  /**
   * Files outside {@code qemu/} allowed to use Gson, each for a format of its own that is not QMP.
   */
  private static final Set<Path> NOT_QMP = Set.of(
      // The audit log is a file of JSON lines, one per call; it has nothing to do with QEMU.
      Path.of("auth/AuditLog.java"));

  @Test
  void gson_onlyInQemuPackage() throws IOException {
    List<Path> sources;
    try (Stream<Path> files = Files.walk(SOURCES)) {
      sources = files.filter(p -> p.toString().endsWith(".java")).toList();
    }
    assertThat(sources).as("server sources under " + SOURCES.toAbsolutePath())
        .hasSizeGreaterThan(50);

    List<Path> usingGson = sources.stream().filter(QmpJsonConfinementTest::importsGson)
        .map(SOURCES::relativize).toList();
    assertThat(usingGson).as("the scan sees the JSON in qemu/")
        .contains(Path.of("qemu/QmpJson.java"), Path.of("qemu/QmpConnection.java"));
    assertThat(usingGson.stream().filter(p -> !p.startsWith("qemu") && !NOT_QMP.contains(p)))
        .as("files outside qemu/ that import com.google.gson: speak to QEMU through "
            + "QemuMonitor's typed methods instead")
        .isEmpty();
  }

  private static boolean importsGson(Path file) {
    try {
      return GSON.matcher(Files.readString(file)).find();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
