package dev.cryo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/** Parsing, exit codes and wording that need no server; CliTest covers the rest end to end. */
@Timeout(30)
class CryoCliTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int cryo(String... args) {
    return CryoCli.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void execute_noCommand_usageOneLine() {
    assertThat(cryo()).isEqualTo(ExitCodes.USAGE);
    assertThat(stderr().lines()).containsExactly("cryo: missing command (see 'cryo --help')");
  }

  @Test
  void execute_unknownOption_usageNamesTheCommand() {
    assertThat(cryo("start", "vm1", "--bogus")).isEqualTo(ExitCodes.USAGE);
    assertThat(stderr().lines()).singleElement().asString().contains("--bogus")
        .contains("cryo start --help");
  }

  @Test
  void execute_help_listsEveryCommandAndExitCodes() {
    assertThat(cryo("--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("list", "define", "start",
        "suspend", "resume", "shutdown", "destroy", "undefine", "dumpxml", "dominfo",
        "domjobinfo", "domjobabort", "events", "console", "3  not found", "CRYO_TARGET");
  }

  @Test
  void globalOptions_acceptedBeforeAndAfterTheCommand() {
    CryoCli before = new CryoCli();
    new CommandLine(before).parseArgs("--json", "--target", "h:1", "list");
    CryoCli after = new CryoCli();
    new CommandLine(after).parseArgs("list", "--json", "--target", "h:2");
    assertThat(before.json).isTrue();
    assertThat(before.target).isEqualTo("h:1");
    assertThat(after.json).isTrue();
    assertThat(after.target).isEqualTo("h:2");
  }

  @Test
  void exitCodes_oneCodePerKindOfFailure() {
    assertThat(ExitCodes.of(new CryoException(ErrorCode.NOT_FOUND, "x", null))).isEqualTo(3);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.INVALID_ARGUMENT, "x", null)))
        .isEqualTo(4);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.FAILED_PRECONDITION, "x", null)))
        .isEqualTo(5);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.ALREADY_EXISTS, "x", null)))
        .isEqualTo(5);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.UNAVAILABLE, "x", null))).isEqualTo(6);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.DEADLINE_EXCEEDED, "x", null)))
        .isEqualTo(7);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.PERMISSION_DENIED, "x", null)))
        .isEqualTo(8);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.UNAUTHENTICATED, "x", null)))
        .isEqualTo(9);
    assertThat(ExitCodes.of(new CryoException(ErrorCode.DATA_LOSS, "x", null))).isEqualTo(1);
    assertThat(ExitCodes.of(new IllegalStateException("x"))).isEqualTo(1);
  }

  @Test
  void exitCodes_everyMappedCodeInTheHelpTable() {
    Map<Integer, String> codes = new TreeMap<>();
    for (ErrorCode c : ErrorCode.values()) {
      int code = ExitCodes.of(new CryoException(c, "x", null));
      if (code != ExitCodes.FAILURE) {
        codes.merge(code, c.name(), (a, b) -> a + "," + b);
      }
    }
    assertThat(codes).containsEntry(3, "NOT_FOUND")
        .containsEntry(8, "PERMISSION_DENIED").containsEntry(9, "UNAUTHENTICATED")
        .containsEntry(6, "UNAVAILABLE").containsEntry(7, "DEADLINE_EXCEEDED");
    assertThat(cryo("--help")).isZero();
    String help = out.toString(StandardCharsets.UTF_8);
    for (int code = 0; code <= codes.keySet().stream().mapToInt(i -> i).max().orElseThrow();
        code++) {
      assertThat(help).as("exit code %d in the help table", code).contains("\n  " + code
          + "  ".translateEscapes());
    }
    assertThat(help).contains("  8  permission denied", "  9  unauthenticated");
  }

  /** Every command path in the tree, e.g. [save], [help]; nested commands as [a, b]. */
  private static List<List<String>> commandPaths(CommandLine cli, List<String> prefix) {
    List<List<String>> paths = new ArrayList<>();
    for (Map.Entry<String, CommandLine> sub : cli.getSubcommands().entrySet()) {
      List<String> path = new ArrayList<>(prefix);
      path.add(sub.getKey());
      paths.add(path);
      paths.addAll(commandPaths(sub.getValue(), path));
    }
    return paths;
  }

  @Test
  void help_everyCommandAnswersHelpFlagsAndHelpCommand() {
    List<List<String>> paths = commandPaths(new CommandLine(new CryoCli()), List.of());
    assertThat(paths).as("the tree was walked").hasSizeGreaterThan(25)
        .contains(List.of("save"), List.of("backup"), List.of("help"));
    for (List<String> path : paths) {
      String usage = "Usage: cryo " + String.join(" ", path);
      List<String[]> asks = new ArrayList<>();
      for (String flag : List.of("--help", "-h")) {
        List<String> argv = new ArrayList<>(path);
        argv.add(flag);
        asks.add(argv.toArray(String[]::new));
      }
      List<String> viaHelp = new ArrayList<>(List.of("help"));
      viaHelp.addAll(path);
      if (path.size() == 1) {
        asks.add(viaHelp.toArray(String[]::new)); // picocli's help takes one command name
      }
      for (String[] argv : asks) {
        out.reset();
        err.reset();
        assertThat(cryo(argv)).as("cryo %s: %s", String.join(" ", argv), stderr()).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).as("cryo %s", String.join(" ", argv))
            .containsPattern("(?m)^" + java.util.regex.Pattern.quote(usage) + " ");
        assertThat(stderr()).as("cryo %s", String.join(" ", argv)).isEmpty();
      }
    }
  }

  @Test
  void help_requiredArgumentsMissing_helpStillWins() {
    assertThat(cryo("save", "--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("DOMAIN", "--compress")
        .doesNotContain("Missing required");
    assertThat(stderr()).isEmpty();
  }

  @Test
  void message_multiLineServerMessage_printedOnOneLine() {
    assertThat(ExitCodes.message(new CryoException(ErrorCode.INVALID_ARGUMENT,
        "bad XML\n  at line 3\n", null))).isEqualTo("invalid argument: bad XML; at line 3");
  }

  @Test
  void durations_acceptUnitsAndRejectOthers() {
    Durations d = new Durations();
    assertThat(d.convert("90")).isEqualTo(Duration.ofSeconds(90));
    assertThat(d.convert("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(d.convert("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(d.convert("1h")).isEqualTo(Duration.ofHours(1));
    assertThatThrownBy(() -> d.convert("-5s")).hasMessageContaining("'-5s'");
    assertThatThrownBy(() -> d.convert("5 days")).hasMessageContaining("90s");
  }

  @Test
  void help_listsImageSnapshotCheckpointAndBackupCommands() {
    assertThat(cryo("--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("save", "restore", "image-info",
        "snapshot-create", "snapshot-list", "snapshot-info", "snapshot-dumpxml",
        "snapshot-revert", "snapshot-delete", "checkpoint-create", "checkpoint-list",
        "checkpoint-delete", "checkpoint-dumpxml", "backup");
  }

  @Test
  void save_twoDestinations_usage() {
    assertThat(cryo("--target", "127.0.0.1:1", "save", "vm1", "vm1.save", "--managed"))
        .isEqualTo(ExitCodes.USAGE);
    assertThat(stderr().lines()).singleElement().asString().contains("--managed");
  }

  @Test
  void save_unknownCompressionOrBothAfterFlags_usage() {
    assertThat(cryo("save", "vm1", "--compress", "rar")).isEqualTo(ExitCodes.USAGE);
    assertThat(stderr()).contains("unknown compression 'rar'");
    assertThat(cryo("save", "vm1", "--running", "--paused")).isEqualTo(ExitCodes.USAGE);
  }

  @Test
  void save_compressionNamesInAnyCase() {
    SaveCommand.Compressions c = new SaveCommand.Compressions();
    assertThat(c.convert("zstd")).isEqualTo(dev.cryo.client.ImageCompression.ZSTD);
    assertThat(c.convert("LZ4")).isEqualTo(dev.cryo.client.ImageCompression.LZ4);
  }

  @Test
  void restore_neitherOrBothSources_usage() {
    assertThat(cryo("--target", "127.0.0.1:1", "restore")).isEqualTo(ExitCodes.USAGE);
    assertThat(cryo("--target", "127.0.0.1:1", "restore", "-", "--server-file", "/x"))
        .isEqualTo(ExitCodes.USAGE);
    assertThat(stderr()).contains("--server-file");
  }

  @Test
  void changeMedia_neitherOrBothSourceAndEject_usage() {
    assertThat(cryo("--target", "127.0.0.1:1", "change-media", "vm1", "sda"))
        .isEqualTo(ExitCodes.USAGE);
    assertThat(stderr()).contains("SOURCE").contains("--eject");
    assertThat(cryo("--target", "127.0.0.1:1", "change-media", "vm1", "sda", "/i.iso",
        "--eject")).isEqualTo(ExitCodes.USAGE);
  }

  @Test
  void snapshotCommands_nameAndCurrentTogether_usage() {
    assertThat(cryo("--target", "127.0.0.1:1", "snapshot-info", "vm1", "s1", "--current"))
        .isEqualTo(ExitCodes.USAGE);
    assertThat(stderr()).contains("SNAPSHOT or --current");
    assertThat(cryo("snapshot-delete", "vm1", "s1", "--children", "--children-only"))
        .isEqualTo(ExitCodes.USAGE);
  }

  @Test
  void backup_incrementalToStdout_usage() {
    assertThat(cryo("--target", "127.0.0.1:1", "backup", "vm1", "--incremental", "c1", "--to",
        "-")).isEqualTo(ExitCodes.USAGE);
    assertThat(stderr()).contains("--to FILE");
  }

  @Test
  void snapshotTree_drawsChildrenUnderParents() {
    java.time.Instant t = java.time.Instant.EPOCH;
    java.util.function.BiFunction<String, String, dev.cryo.client.Snapshot> s = (n, p) ->
        new dev.cryo.client.Snapshot(n, "vm1", "", dev.cryo.client.Snapshot.State.RUNNING, p, t,
            dev.cryo.client.Snapshot.Location.INTERNAL, null, java.util.List.of(), false, false,
            "");
    assertThat(SnapshotListCommand.tree(java.util.List.of(s.apply("a", null),
        s.apply("b", "a"), s.apply("c", "b"), s.apply("d", "a"))))
        .isEqualTo("a\n  |\n  +- b\n  |   |\n  |   +- c\n  |\n  +- d\n\n");
  }
}
