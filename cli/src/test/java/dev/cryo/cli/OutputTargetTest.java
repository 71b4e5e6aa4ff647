package dev.cryo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class OutputTargetTest {
  @TempDir Path dir;

  private long entries() throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.count();
    }
  }

  @Test
  void commit_fileAppearsComplete() throws Exception {
    Path file = dir.resolve("vm1.save");
    try (OutputTarget out = OutputTarget.open(file.toString(), false)) {
      out.stream().write("hello".getBytes(StandardCharsets.UTF_8));
      assertThat(file).doesNotExist();
      out.commit();
    }
    assertThat(file).hasContent("hello");
    assertThat(entries()).isEqualTo(1);
  }

  @Test
  void close_withoutCommit_leavesNothing() throws Exception {
    try (OutputTarget out = OutputTarget.open(dir.resolve("vm1.save").toString(), false)) {
      out.stream().write(new byte[4096]);
    }
    assertThat(entries()).isZero();
  }

  @Test
  void open_existingWithoutOverwrite_refusedAndKept() throws Exception {
    Path file = Files.writeString(dir.resolve("vm1.save"), "old");
    assertThatThrownBy(() -> OutputTarget.open(file.toString(), false))
        .isInstanceOfSatisfying(CliException.class,
            e -> assertThat(e.exitCode()).isEqualTo(ExitCodes.PRECONDITION))
        .hasMessageContaining("exists");
    assertThat(file).hasContent("old");
  }

  @Test
  void commit_overwrite_replaces() throws Exception {
    Path file = Files.writeString(dir.resolve("vm1.save"), "old");
    try (OutputTarget out = OutputTarget.open(file.toString(), true)) {
      out.stream().write("new".getBytes(StandardCharsets.UTF_8));
      out.commit();
    }
    assertThat(file).hasContent("new");
    assertThat(entries()).isEqualTo(1);
  }
}
