package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The wire API's contract, checked by buf through {@code proto/buf-check.sh}: the .proto files
 * follow Google API style (buf lint), and nothing a client built from the previous commit relies
 * on was removed or renumbered (buf breaking against HEAD~1). Needs node and npm; buf itself is
 * installed from npm on first use.
 */
@Timeout(600)
class ProtoContractTest {

  @Test
  void lint_protoFilesClean() throws Exception {
    assertThat(bufCheck("lint")).contains("buf lint: clean");
  }

  @Test
  void breaking_noneAgainstPreviousCommit() throws Exception {
    assertThat(bufCheck("breaking", "HEAD~1")).containsAnyOf("no breaking change",
        "nothing to compare");
  }

  private static String bufCheck(String... args) throws Exception {
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    List<String> argv = new java.util.ArrayList<>(List.of("bash",
        root.resolve("proto/buf-check.sh").toString()));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).directory(root.toFile()).redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("buf-check.sh finished").isTrue();
    assertThat(p.exitValue()).as("buf-check.sh " + String.join(" ", args) + ":\n" + out)
        .isZero();
    return out;
  }
}
