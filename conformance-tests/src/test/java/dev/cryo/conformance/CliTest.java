package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code cryo} launcher against a real server and a real guest: each command does what it
 * says (checked through the SDK, not just the exit code), {@code --json} parses, and every kind
 * of failure has its own exit code and one line on stderr.
 */
@Timeout(400)
class CliTest {
  static final Pattern COUNTER = Pattern.compile("COUNTER (\\d+) boot=(\\S+)");
  static final Duration BOOT = Duration.ofSeconds(150);

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;

  @BeforeAll
  static void startServer() throws Exception {
    CliProcess.launcher();
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  static CliProcess.Result cryo(String... args) throws Exception {
    return CliProcess.run(cryo.target(), null, args);
  }

  static CliProcess.Result cryoWithInput(String stdin, String... args) throws Exception {
    return CliProcess.run(cryo.target(), stdin, args);
  }

  @Test
  void lifecycle_defineStartListConsoleDestroyUndefine() throws Exception {
    String name = "cli-" + System.nanoTime();
    try {
      CliProcess.Result defined = cryoWithInput(TestGuest.xml(name, 128, 0, null, null),
          "define", "-");
      assertThat(defined.exitCode()).as(defined.stderr()).isZero();
      assertThat(defined.stdout()).contains("Domain '" + name + "' defined");
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);

      JsonObject listed = find(parseArray(cryo("list", "--all", "--json")), name);
      assertThat(listed.get("state").getAsString()).isEqualTo("SHUTOFF");
      assertThat(listed.get("memoryBytes").getAsLong()).isEqualTo(128L << 20);
      assertThat(parseArray(cryo("--json", "list"))).as("list without --all: active only")
          .noneMatch(d -> d.getAsJsonObject().get("name").getAsString().equals(name));

      try (CliProcess events = CliProcess.start(cryo.target(), "events", name, "--json")) {
        events.awaitStderr(Pattern.compile("watching events"), Duration.ofSeconds(60));

        CliProcess.Result started = cryo("start", name);
        assertThat(started.exitCode()).as(started.stderr()).isZero();
        assertThat(started.stdout()).contains("Domain '" + name + "' started");
        assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);

        JsonObject running = find(parseArray(cryo("list", "--json")), name);
        assertThat(running.get("state").getAsString()).isEqualTo("RUNNING");
        long pid = running.get("pid").getAsLong();
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).contains(true);

        CliProcess.Result again = cryo("start", name);
        assertThat(again.exitCode()).as("start a running domain").isEqualTo(5);
        assertThat(again.stderrLines()).hasSize(1).first().asString()
            .contains("already running");

        // The console shows the guest's heartbeat, and Ctrl-] detaches without stopping it.
        try (CliProcess console = CliProcess.start(cryo.target(), "console", name)) {
          String beat = console.awaitStdout(COUNTER, BOOT);
          assertThat(beat).matches(".*COUNTER \\d+ boot=\\S+");
          console.stdin().write(0x1d);
          console.stdin().flush();
          CliProcess.Result detached = console.await(Duration.ofSeconds(60));
          assertThat(detached.exitCode()).as(detached.stderr()).isZero();
        }
        assertThat(domains.get(name).state()).as("guest runs on after detach")
            .isEqualTo(DomainState.RUNNING);

        CliProcess.Result xml = cryo("dumpxml", name);
        assertThat(xml.exitCode()).isZero();
        assertThat(xml.stdout()).startsWith("<domain").contains("<name>" + name + "</name>")
            .isEqualTo(domains.xml(name).endsWith("\n") ? domains.xml(name)
                : domains.xml(name) + "\n");
        JsonObject xmlJson = JsonParser.parseString(cryo("dumpxml", name, "--json").stdout())
            .getAsJsonObject();
        assertThat(xmlJson.get("xml").getAsString()).isEqualTo(domains.xml(name));

        JsonObject info = JsonParser.parseString(cryo("--json", "dominfo", name).stdout())
            .getAsJsonObject();
        assertThat(info.get("pid").getAsLong()).isEqualTo(pid);
        assertThat(info.get("accelerator").getAsString()).isIn("KVM", "TCG");

        CliProcess.Result destroyed = cryo("destroy", name, "--json");
        assertThat(destroyed.exitCode()).as(destroyed.stderr()).isZero();
        JsonObject off = JsonParser.parseString(destroyed.stdout()).getAsJsonObject();
        assertThat(off.get("state").getAsString()).isEqualTo("SHUTOFF");
        assertThat(off.get("reason").getAsString()).isEqualTo("DESTROYED");
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).isIn(Optional.empty(),
            Optional.of(false));

        CliProcess.Result undefined = cryo("undefine", name);
        assertThat(undefined.exitCode()).as(undefined.stderr()).isZero();
        assertThat(undefined.stdout()).contains("has been undefined");

        List<String> types = new ArrayList<>();
        while (!types.contains("UNDEFINED")) {
          String line = events.awaitStdout(Pattern.compile("^\\{"), Duration.ofSeconds(60));
          JsonObject e = JsonParser.parseString(line).getAsJsonObject();
          assertThat(e.get("name").getAsString()).isEqualTo(name);
          types.add(e.get("type").getAsString());
        }
        assertThat(types).containsSubsequence("STARTED", "STOPPED", "UNDEFINED");
      }

      CliProcess.Result gone = cryo("dominfo", name);
      assertThat(gone.exitCode()).as("dominfo of an undefined domain").isEqualTo(3);
    } finally {
      cleanup(name);
    }
  }

  /** The SDK's README example, run as the README says, boots a guest and cleans up. */
  @Test
  void sdkQuickstart_bootsGuestAndRemovesIt() throws Exception {
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    Path guest = TestGuest.dir();
    Process p = new ProcessBuilder(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", root.resolve("cli/target/cryo.jar").toString(),
        root.resolve("client-sdk/examples/Quickstart.java").toString(),
        cryo.target(), guest.resolve("vmlinuz").toString(),
        guest.resolve("initramfs.img").toString(), "COUNTER \\d+"))
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(),
        java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor(240, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).containsPattern("console: COUNTER \\d+").contains("state: RUNNING")
        .contains("removed quickstart-");
    assertThat(domains.list(java.util.Set.of())).extracting(d -> d.name())
        .noneMatch(n -> n.startsWith("quickstart-"));
  }

  @Test
  void usage_unknownCommandOrMissingArgument_exit2() throws Exception {
    CliProcess.Result unknown = cryo("frobnicate");
    assertThat(unknown.exitCode()).isEqualTo(2);
    assertThat(unknown.stderrLines()).hasSize(1);
    CliProcess.Result missing = cryo("start");
    assertThat(missing.exitCode()).isEqualTo(2);
    assertThat(missing.stderrLines()).hasSize(1).first().asString().contains("DOMAIN");
    CliProcess.Result badDuration = cryo("shutdown", "x", "--timeout", "soon");
    assertThat(badDuration.exitCode()).isEqualTo(2);
  }

  @Test
  void dominfo_unknownDomain_exit3() throws Exception {
    CliProcess.Result r = cryo("dominfo", "no-such-domain");
    assertThat(r.exitCode()).isEqualTo(3);
    assertThat(r.stdout()).isEmpty();
    assertThat(r.stderrLines()).hasSize(1).first().asString().contains("no-such-domain");
  }

  @Test
  void define_malformedXml_exit4() throws Exception {
    CliProcess.Result r = cryoWithInput("<domain type='kvm'><name>x</name>", "define", "-");
    assertThat(r.exitCode()).isEqualTo(4);
    assertThat(r.stderrLines()).hasSize(1).first().asString().contains("line");
    assertThat(domains.list(java.util.Set.of())).extracting(d -> d.name()).doesNotContain("x");
    CliProcess.Result missingFile = cryo("define", temp.resolve("absent.xml").toString());
    assertThat(missingFile.exitCode()).isEqualTo(4);
  }

  /**
   * Calls the server refuses at once print their one error line and nothing else: no
   * "saving x: 0 B in 0:00" progress or summary line, no partial file.
   */
  @Test
  void refusedTransfers_noProgressLine_oneErrorLineAndItsCode() throws Exception {
    Path dir = java.nio.file.Files.createDirectories(temp.resolve("refused"));
    CliProcess.Result unknown = cryo("save", "nosuch", "-");
    assertThat(unknown.exitCode()).as(unknown.stderr()).isEqualTo(3);
    assertThat(unknown.stdout()).isEmpty();
    assertThat(unknown.stderrLines()).singleElement().asString()
        .startsWith("cryo: not found:").contains("nosuch");

    String name = "cli-off-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, null, null));
    try {
      // The domain exists (the CLI reads its size first), so the SaveDomain call itself is made
      // and refused: a shut-off domain has no memory to save.
      Path image = dir.resolve("off.save");
      CliProcess.Result save = cryo("save", name, image.toString());
      assertThat(save.exitCode()).as(save.stderr()).isEqualTo(5);
      assertThat(save.stderrLines()).singleElement().asString()
          .startsWith("cryo: failed precondition:").contains("not running");
      CliProcess.Result toStdout = cryo("save", name, "-");
      assertThat(toStdout.exitCode()).as(toStdout.stderr()).isEqualTo(5);
      assertThat(toStdout.stdout()).as("no image bytes").isEmpty();
      assertThat(toStdout.stderrLines()).hasSize(1);

      CliProcess.Result backup = cryo("backup", name, "--to", dir.resolve("off.raw").toString());
      assertThat(backup.exitCode()).as(backup.stderr()).isEqualTo(5);
      assertThat(backup.stderrLines()).singleElement().asString().contains("not running");

      // Not a save image: the server refuses it on its first chunk.
      Path garbage = java.nio.file.Files.write(dir.resolve("garbage.save"),
          new byte[3 << 20]);
      CliProcess.Result restore = cryo("restore", garbage.toString());
      assertThat(restore.exitCode()).as(restore.stderr()).isEqualTo(4);
      assertThat(restore.stderrLines()).singleElement().asString()
          .startsWith("cryo: invalid argument:");
      try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(dir)) {
        assertThat(left.map(p -> p.getFileName().toString()).toList())
            .as("no image, no backup, no partial file").containsExactly("garbage.save");
      }
    } finally {
      cleanup(name);
    }
  }

  @Test
  void help_everyCommand_exit0WithItsUsage() throws Exception {
    CliProcess.Result save = cryo("save", "--help");
    assertThat(save.exitCode()).as(save.stderr()).isZero();
    assertThat(save.stdout()).startsWith("Usage: cryo save ").contains("DOMAIN")
        .contains("  8  permission denied", "  9  unauthenticated");
    assertThat(save.stderr()).isEmpty();
    CliProcess.Result help = cryo("help", "backup");
    assertThat(help.exitCode()).as(help.stderr()).isZero();
    assertThat(help.stdout()).startsWith("Usage: cryo backup ");
  }

  @Test
  void list_unreachableServer_exit6() throws Exception {
    CliProcess.Result r = CliProcess.run("127.0.0.1:1", null, "list");
    assertThat(r.exitCode()).isEqualTo(6);
    assertThat(r.stderrLines()).hasSize(1).first().asString().contains("127.0.0.1:1");
  }

  private static JsonArray parseArray(CliProcess.Result r) {
    assertThat(r.exitCode()).as(r.stderr()).isZero();
    JsonElement e = JsonParser.parseString(r.stdout());
    assertThat(e.isJsonArray()).as(r.stdout()).isTrue();
    return e.getAsJsonArray();
  }

  private static JsonObject find(JsonArray domains, String name) {
    for (JsonElement d : domains) {
      if (d.getAsJsonObject().get("name").getAsString().equals(name)) {
        return d.getAsJsonObject();
      }
    }
    throw new AssertionError("no domain " + name + " in " + domains);
  }

  private static void cleanup(String name) {
    try {
      domains.destroy(name);
    } catch (CryoException e) {
      // Not running.
    }
    try {
      domains.undefine(name);
    } catch (CryoException e) {
      // Already gone.
    }
  }
}
