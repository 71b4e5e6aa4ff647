package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.client.Console;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.StateReason;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cryo save}, {@code restore} and {@code image-info} through the real launcher, with one
 * guest booted once on server A: Ctrl-C during a save leaves it running and no file; a save to a
 * local file, its facts and a restore of it answer parseable {@code --json}; and the README's
 * one-liner {@code cryo --target A save vm - | cryo --target B restore -} moves it to server B,
 * where its heartbeat carries on with the same boot id.
 */
@Timeout(900)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@LocalServer("moves a guest between two servers and reads their state folders")
class CliSaveRestoreTest {
  static final String NAME = "cli-mover";
  /** Random fill: a bzip2 save of it takes seconds under TCG, so Ctrl-C lands mid-save. */
  static final int FILL_MIB = 24;

  @TempDir static Path temp;
  static CryoTarget a;
  static CryoTarget b;
  static GuestProbe.Beat booted;

  @BeforeAll
  static void bootOnA() throws Exception {
    CliProcess.launcher();
    TestGuest.dir();
    a = CryoTarget.start(Files.createDirectories(temp.resolve("a")));
    b = CryoTarget.start(Files.createDirectories(temp.resolve("b")));
    a.client().domains().define(GuestProbe.xml(NAME, 128, FILL_MIB));
    a.client().domains().start(NAME);
    booted = GuestProbe.awaitBooted(a.client().domains(), NAME);
  }

  @AfterAll
  static void stopServers() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(a.client().domains(), NAME);
      LifecycleCleanup.destroyAndUndefine(b.client().domains(), NAME);
    } finally {
      try {
        a.close();
      } finally {
        b.close();
      }
    }
  }

  @Test
  @Order(1)
  void save_ctrlC_guestRunsOnAndNoPartialFile() throws Exception {
    Path dir = Files.createDirectories(temp.resolve("ctrl-c"));
    Path image = dir.resolve("vm.save");
    GuestProbe.Beat before = GuestProbe.latest(a.client().domains(), NAME, booted.checksum());
    CliProcess.Result r;
    try (WatchService watch = FileSystems.getDefault().newWatchService()) {
      dir.register(watch, StandardWatchEventKinds.ENTRY_MODIFY);
      try (CliProcess save = CliProcess.start(a.target(), "save", NAME, image.toString(),
          "--compress", "bzip2")) {
        awaitWrite(watch, Duration.ofSeconds(120));
        // The image has started to arrive: Ctrl-C now.
        signal("INT", save.pid());
        r = save.await(Duration.ofSeconds(60));
      }
    }
    assertThat(r.exitCode()).as(r.stderr()).isNotZero();
    assertThat(r.stderr()).contains("cancel");
    try (Stream<Path> left = Files.list(dir)) {
      assertThat(left.toList()).as("no image and no partial file").isEmpty();
    }
    assertCarriesOnAfter(a.client().domains(), before);
    assertThat(a.client().domains().get(NAME).state()).isEqualTo(DomainState.RUNNING);
  }

  @Test
  @Order(2)
  void saveImageInfoRestore_json_parses() throws Exception {
    Path image = temp.resolve("copy.save");
    CliProcess.Result saved = CliProcess.run(a.target(), null, "save", NAME, image.toString(),
        "--compress", "zstd", "--running", "--json");
    assertThat(saved.exitCode()).as(saved.stderr()).isZero();
    JsonObject summary = JsonParser.parseString(saved.stdout()).getAsJsonObject();
    assertThat(summary.get("imageBytes").getAsLong()).isEqualTo(Files.size(image));
    assertThat(summary.get("sha256").getAsString()).matches("[0-9a-f]{64}");
    assertThat(summary.getAsJsonObject("domain").get("state").getAsString())
        .as("--running: the guest carries on").isEqualTo("RUNNING");
    assertThat(a.client().domains().get(NAME).state()).isEqualTo(DomainState.RUNNING);

    CliProcess.Result info = CliProcess.run(a.target(), null, "image-info", image.toString(),
        "--json");
    assertThat(info.exitCode()).as(info.stderr()).isZero();
    JsonObject facts = JsonParser.parseString(info.stdout()).getAsJsonObject();
    assertThat(facts.get("compression").getAsString()).isEqualTo("ZSTD");
    assertThat(facts.get("wasRunning").getAsBoolean()).isTrue();
    assertThat(facts.get("xml").getAsString()).contains("<name>" + NAME + "</name>");
    assertThat(facts.get("payloadOffset").getAsLong() + facts.get("payloadBytes").getAsLong())
        .isEqualTo(Files.size(image));
    CliProcess.Result human = CliProcess.run(a.target(), null, "image-info", image.toString());
    assertThat(human.stdout()).containsPattern("Domain:\\s+" + NAME)
        .containsPattern("Compression:\\s+zstd");

    // The copy restores on B (paused: it only has to prove the image and the JSON).
    CliProcess.Result restored = CliProcess.run(b.target(), null, "restore", image.toString(),
        "--paused", "--json");
    assertThat(restored.exitCode()).as(restored.stderr()).isZero();
    JsonObject out = JsonParser.parseString(restored.stdout()).getAsJsonObject();
    assertThat(out.getAsJsonObject("domain").get("state").getAsString()).isEqualTo("PAUSED");
    assertThat(out.getAsJsonObject("domain").get("reason").getAsString()).isEqualTo("RESTORED");
    assertThat(out.get("warnings").isJsonArray()).isTrue();
    LifecycleCleanup.destroyAndUndefine(b.client().domains(), NAME);

    CliProcess.Result missing = CliProcess.run(a.target(), null, "restore",
        temp.resolve("absent.save").toString());
    assertThat(missing.exitCode()).isEqualTo(4);
    assertThat(missing.stderrLines()).hasSize(1).first().asString().contains("absent.save");
  }

  @Test
  @Order(3)
  void savePipeRestore_movesRunningGuestToOtherServer() throws Exception {
    GuestProbe.Beat before = GuestProbe.latest(a.client().domains(), NAME, booted.checksum());
    Path saveErr = temp.resolve("save.err");
    Path restoreErr = temp.resolve("restore.err");
    Path restoreOut = temp.resolve("restore.out");
    // cryo --target A save NAME - | cryo --target B restore -
    List<Process> pipeline = ProcessBuilder.startPipeline(List.of(
        cryo(a.target(), "save", NAME, "-").redirectError(saveErr.toFile()),
        cryo(b.target(), "restore", "-").redirectError(restoreErr.toFile())
            .redirectOutput(restoreOut.toFile())));
    try {
      for (Process p : pipeline) {
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("pipeline finished").isTrue();
      }
    } finally {
      pipeline.forEach(Process::destroyForcibly);
    }
    String errA = Files.readString(saveErr);
    String errB = Files.readString(restoreErr);
    assertThat(pipeline.get(0).exitValue()).as(errA).isZero();
    assertThat(pipeline.get(1).exitValue()).as(errB).isZero();
    assertThat(errA).contains("Domain '" + NAME + "' saved to standard output");
    assertThat(Files.readString(restoreOut)).contains("Domain '" + NAME + "' restored");

    assertThat(a.client().domains().get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    assertThat(b.client().domains().get(NAME).state()).isEqualTo(DomainState.RUNNING);
    assertThat(b.client().domains().get(NAME).reason()).isEqualTo(StateReason.RESTORED);
    assertCarriesOnAfter(b.client().domains(), before);
    for (CryoTarget t : new CryoTarget[] {a, b}) {
      try (Stream<Path> files = Files.walk(t.stateDir())) {
        assertThat(files.filter(f -> f.toString().endsWith(".save")).toList())
            .as("nothing staged on disk").isEmpty();
      }
    }
  }

  private static ProcessBuilder cryo(String target, String... args) {
    List<String> argv = new ArrayList<>(List.of("bash", CliProcess.launcher().toString(),
        "--target", target));
    argv.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(argv);
    pb.environment().remove("CRYO_TARGET");
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    return pb;
  }

  /** Waits for the first write into the watched folder (the save's temporary file). */
  private static void awaitWrite(WatchService watch, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      WatchKey key;
      try {
        key = watch.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (ClosedWatchServiceException e) {
        throw new AssertionError("watch closed", e);
      }
      if (key == null) {
        throw new AssertionError("the save wrote nothing within " + timeout);
      }
      for (WatchEvent<?> e : key.pollEvents()) {
        if (e.context().toString().endsWith(".part")) {
          return;
        }
      }
      key.reset();
    }
  }

  private static void signal(String sig, long pid) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder(List.of("kill", "-" + sig, Long.toString(pid)))
        .redirectErrorStream(true).start();
    String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(kill.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).as(out).isZero();
  }

  /**
   * The guest beats on: same boot, counter past {@code before} (the launcher's start-up and a
   * cancelled save take a few beats, so no tight upper bound), memory unchanged.
   */
  private static void assertCarriesOnAfter(Domains domains, GuestProbe.Beat before) {
    try (Console c = domains.console(NAME)) {
      c.skipReceived();
      Matcher next = c.awaitLine(GuestProbe.COUNTER, GuestProbe.LINE);
      if (Long.parseLong(next.group(1)) <= before.counter()) {
        next = c.awaitLine(GuestProbe.COUNTER, GuestProbe.LINE);
      }
      assertThat(next.group(2)).as("same boot").isEqualTo(before.boot());
      assertThat(Long.parseLong(next.group(1))).as("heartbeat continues from %d",
          before.counter()).isBetween(before.counter() + 1, before.counter() + 120);
      c.sendLine("checksum");
      Matcher sum = c.awaitLine(GuestProbe.CHECKSUM, GuestProbe.LINE);
      assertThat(sum.group(1)).as("guest memory checksum").isEqualTo(before.checksum());
    }
  }
}
