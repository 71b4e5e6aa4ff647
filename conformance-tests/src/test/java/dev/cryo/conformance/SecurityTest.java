package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupOptions;
import dev.cryo.client.CryoClient;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainState;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Transport security and access control with real certificates made at test time: mutual TLS on
 * the TCP port, bearer tokens on the Unix socket, read-only and admin roles, tenants that see
 * only their own domains, and a server that refuses plaintext on a non-loopback address.
 */
@Timeout(300)
@LocalServer("starts servers with access files and TLS of their own")
class SecurityTest {
  static final String ADMIN_TOKEN = "admin-" + HexFormat.of().formatHex(random(24));
  static final String READER_TOKEN = "reader-" + HexFormat.of().formatHex(random(24));

  @TempDir static Path temp;
  static TestCerts certs;
  static ServerProcess server;
  static Path socket;

  @BeforeAll
  static void startServer() throws Exception {
    certs = TestCerts.create(temp.resolve("certs"));
    Path access = Files.writeString(temp.resolve("access"), """
        # kind  credential  principal  role  domains
        token   sha256:%s   root       admin
        token   sha256:%s   dashboard  read-only
        cert    CN=ops      ops        admin
        cert    CN=tenant-a tenant-a   admin      a1,a2
        """.formatted(sha256(ADMIN_TOKEN), sha256(READER_TOKEN)));
    // The server refuses an access file its QEMU user could read.
    Files.setPosixFilePermissions(access, Set.of(PosixFilePermission.OWNER_READ,
        PosixFilePermission.OWNER_WRITE));
    socket = temp.resolve("run/cryo.sock");
    server = ServerProcess.start(temp.resolve("state"), List.of(
        "--listen", "127.0.0.1:0",
        "--unix-socket", socket.toString(),
        "--tls-cert", certs.cert("server").toString(),
        "--tls-key", certs.key("server").toString(),
        "--tls-client-ca", certs.cert("ca").toString(),
        "--access-file", access.toString()));
    try (CryoClient ops = mtls("ops")) {
      ops.domains().define(TestGuest.xml("a1", 64, 0, null, null));
      // An administrator's domain with a qcow2 disk: what another tenant must not reach.
      ops.domains().define(TestGuest.xml("b1", 64, 0,
          TestGuest.createQcow2(temp.resolve("b1.qcow2"), "64M"), "qcow2"));
    }
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  static CryoClient mtls(String client) {
    return CryoClient.builder().target(server.target()).tls(certs.cert("ca"))
        .clientCertificate(certs.cert(client), certs.key(client)).build();
  }

  static CryoClient unix(String token) {
    CryoClient.Builder b = CryoClient.builder().target("unix://" + socket);
    return token == null ? b.build() : b.bearerToken(token).build();
  }

  static void assertCode(Consumer<CryoClient> call, CryoClient client, ErrorCode code) {
    assertThatThrownBy(() -> call.accept(client)).isInstanceOf(CryoException.class)
        .satisfies(e -> assertThat(((CryoException) e).code()).isEqualTo(code));
  }

  @Test
  void mtls_clientWithoutCertificate_isRefused() {
    try (CryoClient noCert = CryoClient.builder().target(server.target()).tls(certs.cert("ca"))
        .build()) {
      assertCode(c -> c.domains().list(Set.of()), noCert, ErrorCode.UNAVAILABLE);
    }
  }

  @Test
  void mtls_certificateFromAnotherCa_isRefused() {
    try (CryoClient intruder = mtls("intruder")) {
      assertCode(c -> c.domains().list(Set.of()), intruder, ErrorCode.UNAVAILABLE);
    }
  }

  @Test
  void mtls_plaintextClient_isRefused() {
    try (CryoClient plain = CryoClient.builder().target(server.target()).build()) {
      assertCode(c -> c.domains().list(Set.of()), plain, ErrorCode.UNAVAILABLE);
    }
  }

  @Test
  void mtls_adminCertificate_seesEverything() {
    try (CryoClient ops = mtls("ops")) {
      assertThat(ops.domains().list(Set.of())).extracting(Domain::name).contains("a1", "b1");
    }
  }

  @Test
  void tenant_seesAndTouchesOnlyItsDomains() throws Exception {
    try (CryoClient tenant = mtls("tenant-a")) {
      assertThat(tenant.domains().list(Set.of())).extracting(Domain::name).containsExactly("a1");
      assertThat(tenant.domains().get("a1").name()).isEqualTo("a1");
      // Another tenant's domain does not exist for it: NOT_FOUND, not PERMISSION_DENIED.
      assertCode(c -> c.domains().get("b1"), tenant, ErrorCode.NOT_FOUND);
      assertCode(c -> c.domains().xml("b1"), tenant, ErrorCode.NOT_FOUND);
      assertCode(c -> c.domains().undefine("b1"), tenant, ErrorCode.NOT_FOUND);
      String b2 = TestGuest.xml("b2", 64, 0, null, null);
      assertCode(c -> c.domains().define(b2), tenant, ErrorCode.PERMISSION_DENIED);
    }
    try (CryoClient ops = mtls("ops")) {
      assertThat(ops.domains().get("b1").name()).isEqualTo("b1");
      assertCode(c -> c.domains().get("b2"), ops, ErrorCode.NOT_FOUND);
    }
  }

  /**
   * The state folder lies inside an image folder here (as it may on a host): its files are the
   * server's. No caller, admin or not, may name one as a disk, a save target or an image.
   */
  @Test
  void stateFolderFiles_areNotImagePaths_evenInsideAnImageFolder() throws Exception {
    Path state = temp.resolve("state");
    Path b1Definition = state.resolve("domains").resolve("b1.xml");
    assertThat(b1Definition).exists();
    String before = Files.readString(b1Definition);
    String a2 = TestGuest.xml("a2", 64, 0, b1Definition, "raw");
    try (CryoClient ops = mtls("ops")) {
      assertCode(c -> c.domains().define(a2), ops, ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.images().info(b1Definition.toString()), ops,
          ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.images().saveToServer("b1", state.resolve("domains").resolve("a1.xml")
          .toString(), SaveOptions.defaults()), ops, ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.domains().get("a2"), ops, ErrorCode.NOT_FOUND);
    }
    assertThat(Files.readString(b1Definition)).isEqualTo(before);
    assertThat(state.resolve("domains").resolve("a1.xml")).exists();
  }

  /**
   * The two calls issue 12 found served to the wrong tenant, because they ran on executors that
   * lost the caller: a streamed backup of another tenant's running domain, and a restore of its
   * managed save. Also every other way to that image: its server file, the same bytes streamed,
   * under the tenant's own name, its facts, its XML. All NOT_FOUND, and b1 is as it was.
   */
  @Test
  void tenant_anotherTenantsBackupAndSaveImage_areNotFoundAndUntouched() throws Exception {
    Path managedSave = temp.resolve("state/save/b1.save");
    try (CryoClient ops = mtls("ops"); CryoClient tenant = mtls("tenant-a")) {
      List<DomainEvent> tenantEvents = new java.util.concurrent.CopyOnWriteArrayList<>();
      java.util.concurrent.CountDownLatch a1Redefined = new java.util.concurrent.CountDownLatch(1);
      try (AutoCloseable watch = tenant.domains().watch(null, e -> {
        tenantEvents.add(e);
        if (e.name().equals("a1")) {
          a1Redefined.countDown();
        }
      })) {
        ops.domains().start("b1");
        assertCode(c -> c.backups().stream("b1", BackupOptions.full(), extent -> { }), tenant,
            ErrorCode.NOT_FOUND);
        assertCode(c -> c.backups().job("b1"), tenant, ErrorCode.NOT_FOUND);
        // No backup ran at all: the server has none to report for b1.
        assertCode(c -> c.backups().job("b1"), ops, ErrorCode.NOT_FOUND);
        assertThat(ops.domains().get("b1").state()).isEqualTo(DomainState.RUNNING);

        ops.images().saveManaged("b1", SaveOptions.defaults());
        assertThat(managedSave).isRegularFile();
        long saveBytes = Files.size(managedSave);
        String a1Xml = ops.domains().xml("a1");

        assertCode(c -> c.images().restoreManaged("b1", RestoreOptions.defaults()), tenant,
            ErrorCode.NOT_FOUND);
        assertCode(c -> c.domains().start("b1"), tenant, ErrorCode.NOT_FOUND);
        // The managed save's own path lies in the state folder: no caller may name it.
        assertCode(c -> c.images().restoreFromServer(managedSave.toString(),
            RestoreOptions.defaults()), tenant, ErrorCode.PERMISSION_DENIED);
        assertCode(c -> c.images().restore(managedSave, RestoreOptions.defaults()), tenant,
            ErrorCode.NOT_FOUND);
        // b1's memory under the tenant's own name: the image's own XML decides, not this one.
        assertCode(c -> c.images().restore(managedSave,
            RestoreOptions.defaults().replacementXml(a1Xml.replace("<name>a1</name>",
                "<name>a2</name>"))), tenant, ErrorCode.NOT_FOUND);
        assertCode(c -> c.images().info(managedSave.toString()), tenant,
            ErrorCode.PERMISSION_DENIED);
        assertCode(c -> c.images().updateXml(managedSave.toString(), a1Xml), tenant,
            ErrorCode.PERMISSION_DENIED);
        assertCode(c -> c.images().hasManagedSave("b1"), tenant, ErrorCode.NOT_FOUND);
        assertCode(c -> c.images().removeManagedSave("b1"), tenant, ErrorCode.NOT_FOUND);

        Domain b1 = ops.domains().get("b1");
        assertThat(b1.state()).isEqualTo(DomainState.SHUTOFF);
        assertThat(ops.images().hasManagedSave("b1")).isTrue();
        assertThat(managedSave).isRegularFile().hasSize(saveBytes);
        assertThat(new String(Files.readAllBytes(managedSave),
            java.nio.charset.StandardCharsets.ISO_8859_1)).contains("<name>b1</name>");
        assertThat(tenant.domains().list(Set.of())).extracting(Domain::name)
            .containsExactly("a1");
        assertThat(tenant.domains().get("a1").state()).isEqualTo(DomainState.SHUTOFF);

        // Events come in order: once a1's arrives, any of b1's (started, stopped) would have.
        ops.domains().define(a1Xml);
        assertThat(a1Redefined.await(60, TimeUnit.SECONDS)).as("the tenant hears of a1").isTrue();
        assertThat(tenantEvents).extracting(DomainEvent::name).containsOnly("a1");
      } finally {
        DomainLifecycleTest.destroyQuietly(ops.domains(), "b1");
        if (ops.images().hasManagedSave("b1")) {
          ops.images().removeManagedSave("b1");
        }
      }
    }
  }

  /**
   * Per-principal job limits hold for work on executors: a tenant limited to one job saves one
   * running domain to a stream and, while that save holds its job (its first chunk has arrived
   * and the client holds the stream), a save of its other running domain is refused, while
   * another principal's save at the same time goes through. (Before issue 12 both saves ran as
   * the local admin on the executor, so one principal's job blocked the other's.)
   */
  @Test
  void tenant_secondConcurrentSave_pastItsJobLimit_isResourceExhausted() throws Exception {
    Path access = ServerProcess.accessFile(temp.resolve("access-limited"), """
        cert    CN=tenant-a tenant-a   admin      a1,a2
        cert    CN=ops      ops        admin
        """);
    try (ServerProcess limited = ServerProcess.start(temp.resolve("state-limited"), List.of(
        "--listen", "127.0.0.1:0",
        "--tls-cert", certs.cert("server").toString(),
        "--tls-key", certs.key("server").toString(),
        "--tls-client-ca", certs.cert("ca").toString(),
        "--access-file", access.toString(),
        "--max-jobs-per-principal", "1"));
        CryoClient tenant = CryoClient.builder().target(limited.target()).tls(certs.cert("ca"))
            .clientCertificate(certs.cert("tenant-a"), certs.key("tenant-a")).build();
        CryoClient ops = CryoClient.builder().target(limited.target()).tls(certs.cert("ca"))
            .clientCertificate(certs.cert("ops"), certs.key("ops")).build()) {
      // 48 MiB of random guest memory: more than the transport and the client's few chunks
      // can buffer, so the first save cannot finish (and free its job) while its reader waits.
      tenant.domains().define(TestGuest.xml("a1", 160, 48, null, null));
      tenant.domains().start("a1");
      try (dev.cryo.client.Console console = tenant.domains().console("a1")) {
        console.awaitLine(DomainLifecycleTest.COUNTER, DomainLifecycleTest.BOOT);
      }
      tenant.domains().define(TestGuest.xml("a2", 64, 0, null, null));
      tenant.domains().start("a2");
      ops.domains().define(TestGuest.xml("b1", 64, 0, null, null));
      ops.domains().start("b1");
      java.util.concurrent.CountDownLatch firstChunk = new java.util.concurrent.CountDownLatch(1);
      java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
      OutputStream held = new OutputStream() {
        @Override
        public void write(int b) throws java.io.IOException {
          write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws java.io.IOException {
          firstChunk.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException();
          }
        }
      };
      java.util.concurrent.CompletableFuture<SaveSummary> first =
          java.util.concurrent.CompletableFuture.supplyAsync(
              () -> tenant.images().save("a1", held, SaveOptions.defaults()));
      try {
        assertThat(firstChunk.await(120, TimeUnit.SECONDS)).as("the first save streams").isTrue();
        assertThat(tenant.domains().job("a1")).isPresent();
        assertCode(c -> c.images().save("a2", OutputStream.nullOutputStream(),
            SaveOptions.defaults()), tenant, ErrorCode.RESOURCE_EXHAUSTED);
        assertThat(tenant.domains().get("a2").state()).isEqualTo(DomainState.RUNNING);
        // Another principal's job is its own: it runs while the tenant's is held.
        assertThat(ops.images().save("b1", OutputStream.nullOutputStream(),
            SaveOptions.defaults()).payloadBytes()).isPositive();
        assertThat(tenant.domains().job("a1")).as("the tenant's save still holds a1").isPresent();
      } finally {
        release.countDown();
      }
      assertThat(first.get(120, TimeUnit.SECONDS).payloadBytes()).isPositive();
      assertThat(tenant.domains().get("a1").state()).isEqualTo(DomainState.SHUTOFF);
      DomainLifecycleTest.destroyQuietly(tenant.domains(), "a2");
    }
  }

  @Test
  void unixSocket_isGroupOnlyAndNeedsCredentials() throws Exception {
    assertThat(Files.getPosixFilePermissions(socket)).doesNotContain(
        PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE);
    try (CryoClient anonymous = unix(null)) {
      assertCode(c -> c.domains().list(Set.of()), anonymous, ErrorCode.UNAUTHENTICATED);
    }
    try (CryoClient wrong = unix("not-a-token")) {
      assertCode(c -> c.domains().list(Set.of()), wrong, ErrorCode.UNAUTHENTICATED);
    }
    try (CryoClient root = unix(ADMIN_TOKEN)) {
      assertThat(root.domains().list(Set.of())).extracting(Domain::name).contains("a1", "b1");
    }
  }

  @Test
  void readOnlyToken_canLookButNotAct() {
    try (CryoClient reader = unix(READER_TOKEN)) {
      assertThat(reader.domains().list(Set.of())).extracting(Domain::name).contains("a1");
      assertThat(reader.domains().xml("a1")).contains("<name>a1</name>");
      assertCode(c -> c.domains().start("a1"), reader, ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.domains().destroy("a1"), reader, ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.domains().undefine("a1"), reader, ErrorCode.PERMISSION_DENIED);
      assertCode(c -> c.domains().console("a1").awaitLine(java.util.regex.Pattern.compile("."),
          java.time.Duration.ofSeconds(30)), reader, ErrorCode.PERMISSION_DENIED);
    }
  }

  @Test
  void tls_renewedCertificate_isServedWithoutRestart() throws Exception {
    Path dir = Files.createDirectories(temp.resolve("reload"));
    Files.setPosixFilePermissions(dir, Set.of(PosixFilePermission.OWNER_READ,
        PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE));
    Path cert = Files.copy(certs.cert("server"), dir.resolve("server.pem"));
    Path key = Files.copy(certs.key("server"), dir.resolve("server.key"));
    try (ServerProcess tlsOnly = ServerProcess.start(temp.resolve("state-reload"), List.of(
        "--listen", "127.0.0.1:0", "--tls-cert", cert.toString(), "--tls-key", key.toString(),
        "--tls-reload-seconds", "1"))) {
      try (CryoClient old = CryoClient.builder().target(tlsOnly.target()).tls(certs.cert("ca"))
          .build()) {
        assertThat(old.domains().list(Set.of())).isEmpty();
      }
      // Renew: a certificate from another CA, written in place as an operator's tooling would.
      Files.copy(certs.key("server-renewed"), key, StandardCopyOption.REPLACE_EXISTING);
      Files.copy(certs.cert("server-renewed"), cert, StandardCopyOption.REPLACE_EXISTING);
      // The files are re-read every second and each new handshake asks for the key material in
      // force: the renewed certificate is served within the period plus a handshake.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (true) {
        try (CryoClient renewed = CryoClient.builder().target(tlsOnly.target())
            .tls(certs.cert("rogue-ca")).build()) {
          renewed.domains().list(Set.of());
          break;
        } catch (CryoException e) {
          assertThat(System.nanoTime()).as("renewed certificate served within 5 s")
              .isLessThan(deadline);
          Thread.sleep(200); // Polling the server is the only way to see a reload happen.
        }
      }
      try (CryoClient old = CryoClient.builder().target(tlsOnly.target()).tls(certs.cert("ca"))
          .build()) {
        assertCode(c -> c.domains().list(Set.of()), old, ErrorCode.UNAVAILABLE);
      }
    }
  }

  @Test
  void unauthenticatedFlood_doesNotDisturbARunningRestore() throws Exception {
    try (CryoClient ops = mtls("ops")) {
      String name = "flood-" + System.nanoTime();
      ops.domains().define(TestGuest.xml(name, 128, 8, null, null));
      try {
        ops.domains().start(name);
        String boot;
        long before;
        try (dev.cryo.client.Console console = ops.domains().console(name)) {
          boot = console.awaitLine(DomainLifecycleTest.COUNTER, DomainLifecycleTest.BOOT)
              .group(2);
          console.skipReceived();
          before = Long.parseLong(console.awaitLine(DomainLifecycleTest.COUNTER,
              java.time.Duration.ofSeconds(60)).group(1));
        }
        Path image = temp.resolve(name + ".save");
        dev.cryo.client.SaveSummary saved = ops.images().save(name, image,
            dev.cryo.client.SaveOptions.defaults());

        // The restore stream stops after its first MiB until the flood is over, so the flood
        // hits the server while a restore is in the middle of its stream.
        java.util.concurrent.CountDownLatch floodDone = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch midStream = new java.util.concurrent.CountDownLatch(1);
        java.io.InputStream gated = new java.io.FilterInputStream(Files.newInputStream(image)) {
          private long sent;

          @Override
          public int read(byte[] b, int off, int len) throws java.io.IOException {
            if (sent >= (1 << 20)) {
              midStream.countDown();
              try {
                floodDone.await();
              } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
              }
            }
            int n = super.read(b, off, sent < (1 << 20) ? (int) Math.min(len, (1 << 20) - sent)
                : len);
            if (n > 0) {
              sent += n;
            }
            return n;
          }
        };
        java.util.concurrent.CompletableFuture<dev.cryo.client.Restored> restore =
            java.util.concurrent.CompletableFuture.supplyAsync(() -> ops.images().restore(gated,
                saved.sha256(), saved.payloadBytes(), dev.cryo.client.RestoreOptions.defaults()));
        assertThat(midStream.await(60, TimeUnit.SECONDS)).as("restore reached mid-stream").isTrue();
        for (int i = 0; i < 50; i++) {
          try (CryoClient anonymous = i % 2 == 0
              ? CryoClient.builder().target(server.target()).build()
              : unix(null)) {
            assertThatThrownBy(() -> anonymous.domains().list(Set.of()))
                .isInstanceOf(CryoException.class)
                .satisfies(e -> assertThat(((CryoException) e).code())
                    .isIn(ErrorCode.UNAVAILABLE, ErrorCode.UNAUTHENTICATED));
          }
        }
        floodDone.countDown();
        assertThat(restore.get(120, TimeUnit.SECONDS).verified()).isTrue();
        try (dev.cryo.client.Console console = ops.domains().console(name)) {
          java.util.regex.Matcher beat;
          do {
            beat = console.awaitLine(DomainLifecycleTest.COUNTER,
                java.time.Duration.ofSeconds(60));
            assertThat(beat.group(2)).isEqualTo(boot);
          } while (Long.parseLong(beat.group(1)) <= before);
        }
      } finally {
        DomainLifecycleTest.destroyQuietly(ops.domains(), name);
        ops.domains().undefine(name);
      }
    }
  }

  @Test
  void cli_takesTlsFromFlagsAndTokensFromEnvironmentAndConfigFile() throws Exception {
    CliProcess.Result mtls = CliProcess.run(server.target(), null,
        "--tls-ca", certs.cert("ca").toString(), "--tls-cert", certs.cert("ops").toString(),
        "--tls-key", certs.key("ops").toString(), "list", "--all", "--json");
    assertThat(mtls.exitCode()).as(mtls.stderr()).isZero();
    assertThat(mtls.stdout()).contains("\"a1\"").contains("\"b1\"");

    Path readerToken = Files.writeString(temp.resolve("reader.token"), READER_TOKEN + "\n");
    CliProcess.Result reader = CliProcess.run(java.util.Map.of("CRYO_TOKEN_FILE",
        readerToken.toString()), "unix://" + socket, null, "start", "a1");
    assertThat(reader.exitCode()).isNotZero();
    assertThat(reader.stderr()).contains("read-only");

    Path adminToken = Files.writeString(temp.resolve("admin.token"), ADMIN_TOKEN + "\n");
    Path config = Files.writeString(temp.resolve("cli.properties"),
        "target=unix://" + socket + "\ntoken-file=" + adminToken + "\n");
    CliProcess.Result admin = CliProcess.run(java.util.Map.of("CRYO_CONFIG", config.toString()),
        null, null, "list", "--all", "--json");
    assertThat(admin.exitCode()).as(admin.stderr()).isZero();
    assertThat(admin.stdout()).contains("\"a1\"");
  }

  @Test
  void plaintextOnNonLoopbackAddress_refusesToStart() {
    assertThatThrownBy(() -> ServerProcess.start(temp.resolve("state-open"),
        List.of("--listen", "0.0.0.0:0")))
        .hasMessageContaining("without TLS");
  }

  @Test
  void billionLaughs_isRefused() {
    String bomb = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">
        <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
        <domain type='kvm'><name>&lol3;</name><memory>65536</memory></domain>
        """;
    try (CryoClient ops = mtls("ops")) {
      assertThatThrownBy(() -> ops.domains().define(bomb)).isInstanceOf(CryoException.class)
          .hasMessageContaining("DTD")
          .satisfies(e -> assertThat(((CryoException) e).code())
              .isEqualTo(ErrorCode.INVALID_ARGUMENT));
    }
  }

  private static String sha256(String s) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  private static byte[] random(int n) {
    byte[] b = new byte[n];
    new java.security.SecureRandom().nextBytes(b);
    return b;
  }
}
