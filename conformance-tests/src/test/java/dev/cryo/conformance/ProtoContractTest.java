package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wire API's contract, checked by buf through {@code proto/buf-check.sh}: the .proto files
 * follow Google API style (buf lint), and nothing a client built from the released API relies on
 * was removed or renumbered (buf breaking against the committed image
 * {@code proto/released/cryo-v1.binpb}). The check is proven not to be vacuous: on a copy of
 * {@code proto/} it fails for a deleted field and for a missing baseline. Needs node and npm; buf
 * itself is installed from npm on first use.
 */
@Timeout(600)
class ProtoContractTest {
  private static final Path ROOT =
      Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();

  @TempDir Path temp;

  @Test
  void lint_protoFilesClean() throws Exception {
    Result r = bufCheck(ROOT.resolve("proto"), "lint");
    assertThat(r.exit).as(r.out).isZero();
    assertThat(r.out).contains("buf lint: clean");
  }

  @Test
  void breaking_noneAgainstReleasedApi() throws Exception {
    assertThat(ROOT.resolve("proto/released/cryo-v1.binpb")).isNotEmptyFile();
    Result r = bufCheck(ROOT.resolve("proto"), "breaking");
    assertThat(r.exit).as(r.out).isZero();
    assertThat(r.out).contains("no breaking change against the released API");
  }

  @Test
  void breaking_deletedFieldFailsAgainstReleasedApi() throws Exception {
    Path proto = copyOfProto();
    Path image = proto.resolve("src/main/proto/cryo/v1/image.proto");
    String source = Files.readString(image);
    String changed = source.replace("  string name = 1;\n  // Where the image goes.",
        "  reserved 1;\n  // Where the image goes.");
    assertThat(changed).as("SaveDomainRequest.name found to delete").isNotEqualTo(source);
    Files.writeString(image, changed);

    Result r = bufCheck(proto, "breaking");
    assertThat(r.exit).as(r.out).isNotZero();
    assertThat(r.out).contains("image.proto")
        .contains("\"name\" on message \"SaveDomainRequest\" was deleted")
        .doesNotContain("no breaking change");
  }

  @Test
  void breaking_missingBaselineFails() throws Exception {
    Path proto = copyOfProto();
    Files.delete(proto.resolve("released/cryo-v1.binpb"));

    Result r = bufCheck(proto, "breaking");
    assertThat(r.exit).as(r.out).isNotZero();
    assertThat(r.out).contains("no released API").doesNotContain("no breaking change");
  }

  /**
   * Copies what buf-check.sh needs from {@code proto/} into a temporary folder; buf's npm install
   * is shared through a link when it exists, else the copy installs its own.
   */
  private Path copyOfProto() throws IOException {
    Path from = ROOT.resolve("proto");
    Path to = temp.resolve("proto");
    for (String name : List.of("buf-check.sh", "buf.yaml", "package.json", "package-lock.json",
        "src", "released")) {
      try (Stream<Path> files = Files.walk(from.resolve(name))) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Path target = to.resolve(from.relativize(f).toString());
          if (Files.isDirectory(f)) {
            Files.createDirectories(target);
          } else {
            Files.createDirectories(target.getParent());
            Files.copy(f, target);
          }
        }
      }
    }
    if (Files.isDirectory(from.resolve("node_modules"))) {
      Files.createSymbolicLink(to.resolve("node_modules"), from.resolve("node_modules"));
    }
    return to;
  }

  private record Result(int exit, String out) {}

  private static Result bufCheck(Path protoDir, String... args) throws Exception {
    List<String> argv = new ArrayList<>(List.of("bash",
        protoDir.resolve("buf-check.sh").toString()));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).directory(protoDir.toFile()).redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("buf-check.sh finished").isTrue();
    return new Result(p.exitValue(), "buf-check.sh " + String.join(" ", args) + ":\n" + out);
  }
}
