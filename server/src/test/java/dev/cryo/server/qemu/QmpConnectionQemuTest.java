package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link QmpConnection} against a real QEMU ({@code -machine none}, no guest, TCG). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QmpConnectionQemuTest {
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(20);
  private static final long WAIT_SECONDS = 10;

  private static Path qemuBinary;

  @TempDir Path tempDir;

  private Process qemu;
  private QmpConnection client;

  @BeforeAll
  static void findQemu() {
    qemuBinary = findOnPath("qemu-system-x86_64").orElse(null);
    assumeTrue(qemuBinary != null, "qemu-system-x86_64 is not installed");
  }

  @BeforeEach
  void startQemu() throws IOException {
    Path runDir = Files.createDirectories(tempDir.resolve("vm-qemu"));
    Path socket = runDir.resolve("qmp.sock");
    List<String> argv =
        List.of(
            qemuBinary.toString(),
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "none",
            "-qmp",
            "unix:" + socket + ",server=on,wait=off");
    qemu =
        new ProcessBuilder(argv)
            .redirectErrorStream(true)
            .redirectOutput(runDir.resolve("qemu.log").toFile())
            .start();
    client = QmpConnection.connect(socket, CONNECT_TIMEOUT);
  }

  @AfterEach
  void stopQemu() throws Exception {
    try {
      if (client != null) {
        client.close();
      }
    } finally {
      if (qemu != null) {
        qemu.destroy();
        if (!qemu.waitFor(5, TimeUnit.SECONDS)) {
          qemu.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      }
    }
  }

  @Test
  void queryStatusAndVersion_answeredByQemu() throws Exception {
    JsonObject status = client.execute("query-status").getAsJsonObject();
    JsonObject version = client.execute("query-version").getAsJsonObject();

    assertThat(status.has("status")).isTrue();
    assertThat(status.has("running")).isTrue();
    assertThat(version.getAsJsonObject("qemu")).isEqualTo(client.version().getAsJsonObject("qemu"));
    assertThat(version.getAsJsonObject("qemu").get("major").getAsInt()).isGreaterThanOrEqualTo(7);
  }

  @Test
  void execute_unknownCommand_throwsCommandNotFound() {
    assertThatThrownBy(() -> client.execute("no-such-command"))
        .isInstanceOfSatisfying(
            QmpException.class, e -> assertThat(e.errorClass()).isEqualTo("CommandNotFound"));
  }

  @Test
  void sendFileDescriptor_qemuHoldsDescriptorUntilClosefd() throws Exception {
    Path target = tempDir.resolve("migration-target.bin");
    try (FileOutputStream stream = new FileOutputStream(target.toFile())) {
      client.sendFileDescriptor("f1", stream.getFD());
    }
    // Our copy is closed now; QEMU's own descriptor keeps the file open.
    assertThat(qemuDescriptorsPointingAt(target)).hasSize(1);

    client.closeFileDescriptor("f1");

    assertThat(qemuDescriptorsPointingAt(target)).isEmpty();
    assertThatThrownBy(() -> client.closeFileDescriptor("f1"))
        .isInstanceOfSatisfying(
            QmpException.class, e -> assertThat(e.errorClass()).isEqualTo("GenericError"));
    assertThatThrownBy(() -> client.closeFileDescriptor("unknown"))
        .isInstanceOfSatisfying(
            QmpException.class,
            e -> {
              assertThat(e.errorClass()).isEqualTo("GenericError");
              assertThat(e.command()).isEqualTo("closefd");
            });
    assertThat(client.isOpen()).isTrue();
  }

  @Test
  void getfd_withoutDescriptor_rejectedByQemu() {
    JsonObject arguments = new JsonObject();
    arguments.addProperty("fdname", "f2");

    assertThatThrownBy(() -> client.execute("getfd", arguments, Duration.ofSeconds(WAIT_SECONDS)))
        .isInstanceOfSatisfying(
            QmpException.class, e -> assertThat(e.errorClass()).isEqualTo("GenericError"));
  }

  @Test
  void quit_qemuExits_closedCompletesAndShutdownEventDelivered() throws Exception {
    CompletableFuture<QmpEvent> shutdown = client.nextEvent("SHUTDOWN", null);

    CompletableFuture<JsonElement> quit = client.executeAsync("quit", null);

    client.closed().get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertThat(qemu.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(qemu.exitValue()).isZero();
    assertThat(client.isOpen()).isFalse();
    try {
      assertThat(quit.get(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo(new JsonObject());
    } catch (ExecutionException e) {
      // QEMU may exit before its reply is read; then the command fails as "connection closed".
      assertThat(e.getCause()).isInstanceOf(QmpConnectionClosedException.class);
    }
    QmpEvent event = shutdown.get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertThat(event.data().get("guest").getAsBoolean()).isFalse();
    assertThatThrownBy(() -> client.execute("query-status"))
        .isInstanceOf(QmpConnectionClosedException.class);
  }

  /** QEMU's open descriptors (from /proc) that refer to {@code file}. */
  private List<Path> qemuDescriptorsPointingAt(Path file) throws IOException {
    Path fdDir = Path.of("/proc", Long.toString(qemu.pid()), "fd");
    Path real = file.toRealPath();
    List<Path> matches = new ArrayList<>();
    try (Stream<Path> fds = Files.list(fdDir)) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          if (Files.readSymbolicLink(fd).equals(real)) {
            matches.add(fd);
          }
        } catch (IOException e) {
          // The descriptor was closed while listing.
        }
      }
    }
    return matches;
  }

  private static Optional<Path> findOnPath(String program) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    return Stream.of(path.split(File.pathSeparator))
        .filter(dir -> !dir.isEmpty())
        .map(dir -> Path.of(dir, program))
        .filter(Files::isExecutable)
        .findFirst();
  }
}
