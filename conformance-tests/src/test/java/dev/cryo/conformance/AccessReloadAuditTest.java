package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.client.CryoClient;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.SaveOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The access file is re-read without a restart (on SIGHUP, and when it changes), a broken one is
 * refused naming its line, running streams of a revoked principal end, renewed TLS certificates
 * are served within the reload period, and acting calls leave one audit line each, on a real
 * server with a real guest.
 *
 * <p>The shared server polls its access file only every hour, so that what its tests see is
 * SIGHUP's doing; the polling is tested on a server of its own. Each test starts by putting the
 * baseline access file back.
 */
@Timeout(600)
@LocalServer("starts servers with access files, TLS and audit logs of its own")
class AccessReloadAuditTest {
  static final String OPS = token("ops");
  static final String BOB = token("bob");
  static final String READER = token("reader");
  static final String TENANT = token("tenant");
  static final Duration RELOAD_WAIT = Duration.ofSeconds(30);

  @TempDir static Path temp;
  static Path access;
  static Path audit;
  static Path socket;
  static ServerProcess server;

  static String baseline() {
    return """
        # kind  credential  principal  role       domains
        token   sha256:%s   ops        admin
        token   sha256:%s   bob        admin
        token   sha256:%s   reader     read-only
        token   sha256:%s   tenant-a   admin      a1
        """.formatted(sha256(OPS), sha256(BOB), sha256(READER), sha256(TENANT));
  }

  static String withoutBob() {
    return baseline().lines().filter(l -> !l.contains(" bob "))
        .reduce("", (a, b) -> a + b + "\n");
  }

  @BeforeAll
  static void startServer() throws Exception {
    access = ServerProcess.accessFile(temp.resolve("access"), baseline());
    audit = temp.resolve("audit/cryo-audit.log");
    Files.createDirectories(audit.getParent());
    socket = temp.resolve("run/cryo.sock");
    server = ServerProcess.start(temp.resolve("state"), List.of(
        "--unix-socket", socket.toString(),
        "--access-file", access.toString(),
        "--access-reload-seconds", "3600",
        "--audit-log", audit.toString()));
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  @BeforeEach
  void baselineAccess() throws Exception {
    if (!Files.readString(access).equals(baseline())) {
      replace(access, baseline());
      hangup(server);
      try (CryoClient bob = client(BOB)) {
        awaitOutcome(() -> bob.domains().list(Set.of()), null);
      }
    }
  }

  static CryoClient client(String token) {
    return CryoClient.builder().target("unix://" + socket).bearerToken(token).build();
  }

  /** Replaces the file as editors and install(1) do: a new file renamed over the old one. */
  static void replace(Path file, String content) throws IOException {
    Path next = Files.writeString(file.resolveSibling("." + file.getFileName() + ".new"),
        content);
    Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  static void hangup(ServerProcess target) throws Exception {
    Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(target.handle().pid()))
        .redirectErrorStream(true).start();
    assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).as("kill -HUP").isZero();
  }

  /**
   * Repeats {@code call} until it ends with {@code expected} (null: succeeds); a reload is only
   * visible through calls. Returns how long that took.
   */
  static Duration awaitOutcome(Runnable call, ErrorCode expected) throws InterruptedException {
    long start = System.nanoTime();
    long deadline = start + RELOAD_WAIT.toNanos();
    Object last;
    do {
      try {
        call.run();
        last = "success";
      } catch (CryoException e) {
        last = e.code() + ": " + e.getMessage();
        if (e.code() == expected) {
          return Duration.ofNanos(System.nanoTime() - start);
        }
      }
      if (expected == null && "success".equals(last)) {
        return Duration.ofNanos(System.nanoTime() - start);
      }
      Thread.sleep(100);
    } while (System.nanoTime() < deadline);
    return fail("no " + (expected == null ? "success" : expected) + " within " + RELOAD_WAIT
        + "; last outcome: " + last);
  }

  /** Waits until the server log holds a line that {@code wanted} accepts; returns that line. */
  static String awaitLogLine(ServerProcess target, Predicate<String> wanted) throws Exception {
    long deadline = System.nanoTime() + RELOAD_WAIT.toNanos();
    do {
      for (String line : Files.readAllLines(target.log(), StandardCharsets.UTF_8)) {
        if (wanted.test(line)) {
          return line;
        }
      }
      Thread.sleep(100);
    } while (System.nanoTime() < deadline);
    return fail("no such line in " + target.log() + ": " + ServerProcess.tail(target.log()));
  }

  @Test
  void sighup_revokedToken_isRefusedAtItsNextCall_andItsRunningWatchEnds() throws Exception {
    try (CryoClient bob = client(BOB); CryoClient ops = client(OPS)) {
      assertThat(bob.domains().list(Set.of())).isNotNull();
      CompletableFuture<CryoException> watchEnd = new CompletableFuture<>();
      try (AutoCloseable watch = bob.domains().watch(null, event -> { },
          watchEnd::complete)) {
        replace(access, withoutBob());
        hangup(server);
        Duration took = awaitOutcome(() -> bob.domains().list(Set.of()),
            ErrorCode.UNAUTHENTICATED);
        System.out.println("revoked token refused " + took.toMillis() + " ms after SIGHUP");
        // The running stream is ended by the same reload, not left to run.
        CryoException ended = watchEnd.get(RELOAD_WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(ended.code()).isEqualTo(ErrorCode.UNAUTHENTICATED);
        assertThat(ended.getMessage()).contains("'bob'").contains("revoked");
      }
      assertThat(ops.domains().list(Set.of())).as("other principals unaffected").isNotNull();
      awaitLogLine(server, l -> l.contains("access file") && l.contains("reloaded"));
    }
  }

  @Test
  void sighup_brokenFile_keepsTheOldOne_andTheLogNamesTheLine() throws Exception {
    // Line 3 is bad; the rest would drop bob and add carol if it were taken.
    String broken = "# a typo on line 3\ntoken sha256:%s ops admin\ntoken sha256:%s carol admn\n"
        .formatted(sha256(OPS), sha256(token("carol")));
    replace(access, broken);
    hangup(server);
    String line = awaitLogLine(server, l -> l.contains("not reloading the access file"));
    assertThat(line).contains(access + " line 3").contains("unknown role 'admn'")
        .contains("keeping the one read before");
    try (CryoClient bob = client(BOB)) {
      assertThat(bob.domains().list(Set.of())).as("the old file is still in force").isNotNull();
    }
  }

  @Test
  void accessFileChange_isSeenWithoutSignal_whetherRenamedOverOrWrittenInPlace()
      throws Exception {
    Path file = ServerProcess.accessFile(temp.resolve("access-polled"), baseline());
    Path sock = temp.resolve("run/polled.sock");
    try (ServerProcess polled = ServerProcess.start(temp.resolve("state-polled"), List.of(
        "--unix-socket", sock.toString(), "--access-file", file.toString(),
        "--access-reload-seconds", "1"));
        CryoClient bob = CryoClient.builder().target("unix://" + sock).bearerToken(BOB)
            .build()) {
      assertThat(bob.domains().list(Set.of())).isNotNull();
      replace(file, withoutBob());
      Duration revoked = awaitOutcome(() -> bob.domains().list(Set.of()),
          ErrorCode.UNAUTHENTICATED);
      Files.writeString(file, baseline()); // In place, as `cat > access` would.
      Duration restored = awaitOutcome(() -> bob.domains().list(Set.of()), null);
      System.out.println("polled reload (period 1 s): revoked after " + revoked.toMillis()
          + " ms, restored after " + restored.toMillis() + " ms");
      // Applied once two polls a second apart read the same bytes: within about 2 s.
      assertThat(revoked).isLessThan(Duration.ofSeconds(10));
      assertThat(restored).isLessThan(Duration.ofSeconds(10));
    }
  }

  @Test
  void tls_renewedCertificateKeepingItsKey_isServedWithinThePeriod() throws Exception {
    TestCerts certs = TestCerts.create(temp.resolve("certs"));
    Path dir = Files.createDirectories(temp.resolve("tls"));
    Path cert = Files.copy(certs.cert("server"), dir.resolve("server.pem"),
        StandardCopyOption.REPLACE_EXISTING);
    Path key = Files.copy(certs.key("server"), dir.resolve("server.key"),
        StandardCopyOption.REPLACE_EXISTING);
    // A renewal that keeps the key (certbot --reuse-key): only the certificate file changes,
    // which grpc-java's own file reloading never noticed (it waited for both files to change).
    Path renewed = certs.dir.resolve("server-same-key.pem");
    Process sign = new ProcessBuilder("openssl", "x509", "-req",
        "-in", certs.dir.resolve("server.csr").toString(),
        "-CA", certs.cert("rogue-ca").toString(), "-CAkey", certs.key("rogue-ca").toString(),
        "-CAcreateserial", "-days", "2", "-extfile", certs.dir.resolve("server.ext").toString(),
        "-out", renewed.toString()).redirectErrorStream(true).start();
    String out = new String(sign.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(sign.waitFor(60, TimeUnit.SECONDS) && sign.exitValue() == 0).as(out).isTrue();
    try (ServerProcess tls = ServerProcess.start(temp.resolve("state-tls"), List.of(
        "--listen", "127.0.0.1:0", "--tls-cert", cert.toString(), "--tls-key", key.toString(),
        "--tls-reload-seconds", "1"))) {
      try (CryoClient old = CryoClient.builder().target(tls.target()).tls(certs.cert("ca"))
          .build()) {
        assertThat(old.domains().list(Set.of())).isEmpty();
      }
      Files.copy(renewed, cert, StandardCopyOption.REPLACE_EXISTING);
      long start = System.nanoTime();
      awaitOutcome(() -> {
        try (CryoClient client = CryoClient.builder().target(tls.target())
            .tls(certs.cert("rogue-ca")).build()) {
          client.domains().list(Set.of());
        }
      }, null);
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      System.out.println("renewed certificate served after " + took.toMillis() + " ms");
      assertThat(took).as("served within the 1 s period plus a handshake")
          .isLessThan(Duration.ofSeconds(5));
      try (CryoClient old = CryoClient.builder().target(tls.target()).tls(certs.cert("ca"))
          .build()) {
        assertThatThrownBy(() -> old.domains().list(Set.of())).isInstanceOf(CryoException.class)
            .satisfies(e -> assertThat(((CryoException) e).code())
                .isEqualTo(ErrorCode.UNAVAILABLE));
      }
    }
  }

  @Test
  void audit_recordsEachActingCall_withPrincipalRpcDomainAndOutcome() throws Exception {
    String name = "audited-" + System.nanoTime();
    Path image = temp.resolve(name + ".save");
    try (CryoClient ops = client(OPS); CryoClient reader = client(READER);
        CryoClient tenant = client(TENANT)) {
      ops.domains().define(TestGuest.xml(name, 64, 0, null, null));
      boolean done = false;
      try {
        ops.domains().start(name);
        ops.images().saveToServer(name, image.toString(), SaveOptions.defaults());
        ops.domains().start(name);
        assertThat(ops.domains().get(name).name()).isEqualTo(name); // Only looks: not audited.
        assertThatThrownBy(() -> reader.domains().destroy(name))
            .isInstanceOf(CryoException.class)
            .satisfies(e -> assertThat(((CryoException) e).code())
                .isEqualTo(ErrorCode.PERMISSION_DENIED));
        assertThatThrownBy(() -> tenant.domains().destroy(name))
            .isInstanceOf(CryoException.class)
            .satisfies(e -> assertThat(((CryoException) e).code())
                .isEqualTo(ErrorCode.NOT_FOUND));
        ops.domains().destroy(name);
        ops.domains().undefine(name);
        done = true;
      } finally {
        if (!done) { // Clean up after a failure; on success these calls would be audited too.
          DomainLifecycleTest.destroyQuietly(ops.domains(), name);
          ops.domains().undefine(name);
        }
      }
    }

    List<JsonObject> mine = awaitAuditLines(name, 8);
    List<String> summary = new ArrayList<>();
    for (JsonObject o : mine) {
      summary.add(text(o, "principal") + " " + text(o, "rpc") + " " + text(o, "outcome"));
      assertThat(text(o, "time")).matches("\\d{4}-\\d\\d-\\d\\dT.*Z");
    }
    assertThat(summary).containsExactly(
        "ops cryo.v1.DomainService/DefineDomain OK",
        "ops cryo.v1.DomainService/StartDomain OK",
        "ops cryo.v1.ImageService/SaveDomain OK",
        "ops cryo.v1.DomainService/StartDomain OK",
        "reader cryo.v1.DomainService/DestroyDomain PERMISSION_DENIED",
        "tenant-a cryo.v1.DomainService/DestroyDomain NOT_FOUND",
        "ops cryo.v1.DomainService/DestroyDomain OK",
        "ops cryo.v1.DomainService/UndefineDomain OK");
    // Every line names the domain, except the read-only refusal, which the server gives before
    // reading the request.
    assertThat(mine).filteredOn(o -> !"reader".equals(text(o, "principal")))
        .allSatisfy(o -> assertThat(text(o, "domain")).isEqualTo(name));
    assertThat(text(mine.get(4), "reason")).contains("read-only");
    assertThat(text(mine.get(5), "reason")).contains(name);

    String whole = Files.readString(audit);
    assertThat(whole).doesNotContain(OPS, READER, TENANT, BOB);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(audit)))
        .isEqualTo("rw-------");
  }

  /**
   * The audit lines about {@code domain} (or, for the read-only refusal that has none, the
   * DestroyDomain lines in between), once there are {@code count} of them: the log is written
   * off the call path.
   */
  static List<JsonObject> awaitAuditLines(String domain, int count) throws Exception {
    long deadline = System.nanoTime() + RELOAD_WAIT.toNanos();
    List<JsonObject> mine;
    do {
      mine = new ArrayList<>();
      boolean in = false;
      for (String line : Files.readAllLines(audit, StandardCharsets.UTF_8)) {
        JsonObject o = JsonParser.parseString(line).getAsJsonObject();
        boolean about = domain.equals(text(o, "domain"));
        in |= about;
        if (about || (in && "reader".equals(text(o, "principal")))) {
          mine.add(o);
        }
        if (about && text(o, "rpc").endsWith("/UndefineDomain")) {
          in = false;
        }
      }
      if (mine.size() >= count) {
        return mine;
      }
      Thread.sleep(100);
    } while (System.nanoTime() < deadline);
    return fail("expected " + count + " audit lines about " + domain + ", got " + mine + "\n"
        + Files.readString(audit));
  }

  static String text(JsonObject o, String key) {
    JsonElement e = o.get(key);
    return e == null || e.isJsonNull() ? null : e.getAsString();
  }

  static String token(String who) {
    byte[] b = new byte[24];
    new java.security.SecureRandom().nextBytes(b);
    return who + "-" + HexFormat.of().formatHex(b);
  }

  static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
