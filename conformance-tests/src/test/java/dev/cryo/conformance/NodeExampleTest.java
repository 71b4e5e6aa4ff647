package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.client.DomainEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Node.js example in {@code examples/node}, built only from {@code proto/}, drives a real
 * server: it boots the test guest, sees its heartbeat on the console and removes it. The server's
 * own event stream, watched here through the Java SDK, confirms each step happened.
 */
@Timeout(600)
class NodeExampleTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Path example;

  @BeforeAll
  static void setUp() throws Exception {
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    example = root.resolve("examples/node");
    if (!Files.isDirectory(example.resolve("node_modules/@grpc/grpc-js"))
        || !Files.isDirectory(example.resolve("node_modules/@grpc/proto-loader"))) {
      // Fresh machine: install exactly what package-lock.json pins.
      run(example, List.of("npm", "ci", "--no-audit", "--no-fund"), 300);
    }
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
  }

  @AfterAll
  static void tearDown() throws Exception {
    cryo.close();
  }

  @Test
  void heartbeat_nodeClientBootsGuestSeesHeartbeatAndRemovesIt() throws Exception {
    Path guest = TestGuest.dir();
    List<DomainEvent> events = new CopyOnWriteArrayList<>();
    String out;
    try (AutoCloseable watch = cryo.client().domains().watch(null, events::add)) {
      out = run(example, List.of("node", "heartbeat.js", "--target", cryo.target(),
          "--kernel", guest.resolve("vmlinuz").toString(),
          "--initrd", guest.resolve("initramfs.img").toString()), 300);
    }
    String last = out.strip().lines().reduce((a, b) -> b).orElseThrow();
    JsonObject summary = JsonParser.parseString(last).getAsJsonObject();
    String name = summary.get("domain").getAsString();
    assertThat(summary.get("heartbeat").getAsString()).matches("COUNTER \\d+ boot=\\S+");
    assertThat(summary.get("counter").getAsInt()).isPositive();
    assertThat(summary.get("finalState").getAsString()).isEqualTo("DOMAIN_STATE_SHUTOFF");
    assertThat(events).filteredOn(e -> e.name().equals(name)).extracting(DomainEvent::type)
        .containsSubsequence(DomainEvent.Type.DEFINED, DomainEvent.Type.STARTED,
            DomainEvent.Type.STOPPED, DomainEvent.Type.UNDEFINED);
    assertThat(cryo.client().domains().list(Set.of())).extracting(d -> d.name())
        .doesNotContain(name);
  }

  @Test
  void saveRestore_nodeClientStreamsImageToFileAndGuestCarriesOn() throws Exception {
    Path guest = TestGuest.dir();
    Path image = temp.resolve("node.save");
    String out = run(example, List.of("node", "save-restore.js", "--target", cryo.target(),
        "--kernel", guest.resolve("vmlinuz").toString(),
        "--initrd", guest.resolve("initramfs.img").toString(),
        "--file", image.toString()), 420);
    String last = out.strip().lines().reduce((a, b) -> b).orElseThrow();
    JsonObject summary = JsonParser.parseString(last).getAsJsonObject();
    assertThat(summary.get("imageBytes").getAsLong()).as(out)
        .isEqualTo(summary.get("summaryImageBytes").getAsLong()).isEqualTo(Files.size(image));
    assertThat(summary.get("savedState").getAsString()).isEqualTo("DOMAIN_STATE_SHUTOFF");
    assertThat(summary.get("restoredState").getAsString()).isEqualTo("DOMAIN_STATE_RUNNING");
    assertThat(summary.get("verified").getAsBoolean()).as("the trailer's digest matched")
        .isTrue();
    assertThat(summary.get("bootAfter").getAsString()).as("same boot after restore")
        .isEqualTo(summary.get("bootBefore").getAsString());
    long before = summary.get("counterBefore").getAsLong();
    assertThat(summary.get("counterAfter").getAsLong()).as("heartbeat continues")
        .isBetween(before + 1, before + 30);
    // The file the Node client wrote is a real save image: the Java SDK reads its facts.
    byte[] head = new byte[1 << 20];
    try (var in = Files.newInputStream(image)) {
      head = in.readNBytes(head.length);
    }
    assertThat(cryo.client().images().infoOfHead(head).xml())
        .contains("<name>" + summary.get("domain").getAsString() + "</name>");
    assertThat(cryo.client().domains().list(Set.of())).extracting(d -> d.name())
        .doesNotContain(summary.get("domain").getAsString());
  }

  /** Runs a command in {@code dir}; returns its output or fails with it. */
  private static String run(Path dir, List<String> argv, int timeoutSeconds)
      throws IOException, InterruptedException {
    Process p;
    try {
      p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException(argv.get(0) + " is not installed; the Node.js example needs node "
          + "18+ and npm on PATH", e);
    }
    // Output is small (npm's summary, a few lines of the example): read it all, then wait.
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(argv + " did not finish in " + timeoutSeconds + " s:\n" + out);
    }
    assertThat(p.exitValue()).as(argv + " output:\n" + out).isZero();
    return out;
  }
}
