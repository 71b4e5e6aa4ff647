package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.CryoClient;
import dev.cryo.client.DomainState;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code cryo} launcher against a server with an access file (as in {@link SecurityTest}):
 * a read-only token's calls that act are refused with exit code 8, missing or unknown
 * credentials with 9, and a refused transfer prints its one error line, no progress, and leaves
 * no file. No guest is booted: the refusals come before any QEMU work.
 */
@Timeout(300)
@LocalServer("starts a server with an access file of its own")
class CliAccessTest {
  static final String ADMIN_TOKEN = "admin-" + HexFormat.of().formatHex(random(24));
  static final String READER_TOKEN = "reader-" + HexFormat.of().formatHex(random(24));
  static final String NAME = "cli-ro";

  @TempDir static Path temp;
  static ServerProcess server;
  static String target;
  static Path readerToken;
  static Path adminToken;

  @BeforeAll
  static void startServer() throws Exception {
    CliProcess.launcher();
    Path access = ServerProcess.accessFile(temp.resolve("access"), """
        # kind  credential  principal  role
        token   sha256:%s   root       admin
        token   sha256:%s   dashboard  read-only
        """.formatted(sha256(ADMIN_TOKEN), sha256(READER_TOKEN)));
    Path socket = temp.resolve("run/cryo.sock");
    server = ServerProcess.start(temp.resolve("state"), List.of(
        "--listen", "127.0.0.1:0", "--unix-socket", socket.toString(),
        "--access-file", access.toString()));
    target = "unix://" + socket;
    readerToken = Files.writeString(temp.resolve("reader.token"), READER_TOKEN + "\n");
    adminToken = Files.writeString(temp.resolve("admin.token"), ADMIN_TOKEN + "\n");
    try (CryoClient admin = admin()) {
      admin.domains().define(TestGuest.xml(NAME, 64, 0, null, null));
    }
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server == null) {
      return;
    }
    try (CryoClient admin = admin()) {
      admin.domains().undefine(NAME);
    } finally {
      server.close();
    }
  }

  static CryoClient admin() {
    return CryoClient.builder().target(target).bearerToken(ADMIN_TOKEN).build();
  }

  static CliProcess.Result cryo(Path tokenFile, String... args) throws Exception {
    // An empty config file and a blank CRYO_TOKEN_FILE: the user's own settings stay out.
    Path config = temp.resolve("empty.properties");
    if (!Files.exists(config)) {
      Files.createFile(config);
    }
    return CliProcess.run(Map.of("CRYO_CONFIG", config.toString(), "CRYO_TOKEN_FILE",
        tokenFile == null ? "" : tokenFile.toString()), target, null, args);
  }

  /** One line on stderr, the error; nothing on stdout. */
  static void assertRefused(CliProcess.Result r, int exitCode, String prefix) {
    assertThat(r.exitCode()).as(r.stderr()).isEqualTo(exitCode);
    assertThat(r.stdout()).isEmpty();
    assertThat(r.stderrLines()).as("the error line and no progress line").singleElement()
        .asString().startsWith(prefix);
  }

  @Test
  void readOnlyToken_looksButActionsExit8WithoutProgress() throws Exception {
    CliProcess.Result list = cryo(readerToken, "list", "--all", "--json");
    assertThat(list.exitCode()).as("a read-only token may look: %s", list.stderr()).isZero();
    assertThat(list.stdout()).contains("\"" + NAME + "\"");

    assertRefused(cryo(readerToken, "start", NAME), 8, "cryo: permission denied:");
    Path dir = Files.createDirectories(temp.resolve("out"));
    // The CLI reads the domain (allowed) and then calls SaveDomain, which is refused.
    assertRefused(cryo(readerToken, "save", NAME, dir.resolve("ro.save").toString()), 8,
        "cryo: permission denied:");
    assertRefused(cryo(readerToken, "save", NAME, "-"), 8, "cryo: permission denied:");
    assertRefused(cryo(readerToken, "backup", NAME, "--to", dir.resolve("ro.raw").toString()),
        8, "cryo: permission denied:");
    Path image = Files.write(dir.resolve("some.save"), new byte[3 << 20]);
    assertRefused(cryo(readerToken, "restore", image.toString()), 8,
        "cryo: permission denied:");
    try (Stream<Path> left = Files.list(dir)) {
      assertThat(left.map(p -> p.getFileName().toString()).toList())
          .as("no image, no backup, no partial file").containsExactly("some.save");
    }
    try (CryoClient admin = admin()) {
      assertThat(admin.domains().get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    }
  }

  @Test
  void noOrUnknownCredentials_exit9() throws Exception {
    assertRefused(cryo(null, "list"), 9, "cryo: unauthenticated:");
    Path wrong = Files.writeString(temp.resolve("wrong.token"), "not-a-token\n");
    assertRefused(cryo(wrong, "list"), 9, "cryo: unauthenticated:");
    assertRefused(cryo(wrong, "save", NAME, "-"), 9, "cryo: unauthenticated:");
    assertRefused(cryo(null, "restore", "-"), 9, "cryo: unauthenticated:");
    CliProcess.Result admin = cryo(adminToken, "dominfo", NAME);
    assertThat(admin.exitCode()).as(admin.stderr()).isZero();
  }

  private static String sha256(String s) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(s.getBytes(StandardCharsets.UTF_8)));
  }

  private static byte[] random(int n) {
    byte[] b = new byte[n];
    new SecureRandom().nextBytes(b);
    return b;
  }
}
