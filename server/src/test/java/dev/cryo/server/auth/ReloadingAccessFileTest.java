package dev.cryo.server.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class ReloadingAccessFileTest {
  @TempDir Path dir;

  private static String entry(String token, String principal, String role) throws Exception {
    return "token sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(token.getBytes(StandardCharsets.UTF_8))) + " " + principal + " " + role + "\n";
  }

  private Path write(String content) throws IOException {
    return Files.writeString(dir.resolve("access"), content);
  }

  @Test
  void poll_appliesAChangeOnceTwoPollsReadTheSameContent() throws Exception {
    ReloadingAccessFile access = ReloadingAccessFile.open(write(
        entry("alice-token", "alice", "admin") + entry("bob-token", "bob", "admin")));
    List<AccessFile> seen = new ArrayList<>();
    access.onChange(seen::add);
    assertThat(access.poll()).as("unchanged").isFalse();

    write(entry("alice-token", "alice", "admin"));
    assertThat(access.poll()).as("first read of new content: may be half-written").isFalse();
    assertThat(access.current().byToken("bob-token")).isPresent();
    assertThat(access.poll()).as("second read, same content").isTrue();
    assertThat(access.current().byToken("bob-token")).isEmpty();
    assertThat(access.current().byToken("alice-token")).isPresent();
    assertThat(seen).containsExactly(access.current());
    assertThat(access.poll()).isFalse();
  }

  @Test
  void reloadNow_appliesAtOnce() throws Exception {
    ReloadingAccessFile access = ReloadingAccessFile.open(write(
        entry("alice-token", "alice", "admin")));
    write(entry("alice-token", "alice", "read-only"));
    assertThat(access.reloadNow()).isTrue();
    assertThat(access.current().byToken("alice-token").orElseThrow().role())
        .isEqualTo(Role.READ_ONLY);
  }

  @Test
  void brokenFile_keepsTheOldOne() throws Exception {
    ReloadingAccessFile access = ReloadingAccessFile.open(write(
        entry("alice-token", "alice", "admin")));
    AccessFile before = access.current();
    write("# comment\n" + entry("carol-token", "carol", "superuser"));
    assertThat(access.poll()).isFalse();
    assertThat(access.poll()).isFalse();
    assertThat(access.reloadNow()).isFalse();
    assertThat(access.current()).isSameAs(before);
    assertThat(access.current().byToken("alice-token")).isPresent();
    assertThatThrownBy(() -> AccessFile.read(dir.resolve("access")))
        .hasMessageContaining("line 2").hasMessageContaining("superuser");

    write(entry("carol-token", "carol", "admin"));
    assertThat(access.reloadNow()).as("a fixed file applies").isTrue();
    assertThat(access.current().byToken("carol-token")).isPresent();
  }

  @Test
  void missingFile_keepsTheOldOne() throws Exception {
    Path file = write(entry("alice-token", "alice", "admin"));
    ReloadingAccessFile access = ReloadingAccessFile.open(file);
    Files.delete(file);
    assertThat(access.poll()).isFalse();
    assertThat(access.reloadNow()).isFalse();
    assertThat(access.current().byToken("alice-token")).isPresent();
  }

  @Test
  void fileReplacedByRename_isSeen() throws Exception {
    Path file = write(entry("alice-token", "alice", "admin"));
    ReloadingAccessFile access = ReloadingAccessFile.open(file);
    // As editors and install(1) do: write a new file, rename it over the old one (new inode).
    Path next = Files.writeString(dir.resolve(".access.swp"), entry("dave-token", "dave",
        "admin"));
    Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    access.poll();
    assertThat(access.poll()).isTrue();
    assertThat(access.current().byToken("dave-token")).isPresent();
    assertThat(access.current().byToken("alice-token")).isEmpty();
  }

  @Test
  void open_brokenFile_failsNamingTheLine() throws Exception {
    Path file = write(entry("alice-token", "alice", "admin") + "token nothex alice admin\n");
    assertThatThrownBy(() -> ReloadingAccessFile.open(file)).isInstanceOf(IOException.class)
        .hasMessageContaining(file + " line 2");
  }
}
