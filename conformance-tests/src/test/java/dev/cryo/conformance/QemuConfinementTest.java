package dev.cryo.conformance;

import static dev.cryo.conformance.SnapshotInternalTest.read;
import static dev.cryo.conformance.SnapshotInternalTest.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Console;
import dev.cryo.client.CryoClient;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU runs confined as libvirt runs it (on by default): an unprivileged user, a seccomp filter,
 * no monitor but QMP, a cgroup v2 where the host delegates one. Checked on the live QEMU process
 * ({@code /proc/PID/status}), by trying to read the server's secrets as QEMU's user, and by a
 * guest with a qcow2 disk that boots, saves, restores, snapshots and backs up under it.
 *
 * <p>Needs a server this kit starts as root on this host (it reads QEMU's /proc entry and
 * switches to QEMU's uid with {@code setpriv}).
 */
@Timeout(900)
@LocalServer("starts servers of its own and inspects their QEMU processes")
class QemuConfinementTest {
  static final Pattern COUNTER = DomainLifecycleTest.COUNTER;
  static final Duration BOOT = DomainLifecycleTest.BOOT;
  static final String TOKEN = "admin-" + HexFormat.of().formatHex(
      new java.security.SecureRandom().generateSeed(24));

  @TempDir static Path temp;
  static Path state;
  static Path access;
  static ServerProcess server;
  static CryoClient client;
  static Domains domains;

  @BeforeAll
  static void startServer() throws Exception {
    assumeThat(System.getProperty("cryo.target", "")).as("needs a server this kit starts")
        .isEmpty();
    TestGuest.dir();
    state = temp.resolve("state");
    // Mode 0600 in a folder QEMU's user may traverse: only the file's mode keeps it out.
    access = Files.writeString(temp.resolve("access"),
        "token sha256:" + sha256(TOKEN) + " root admin\n");
    Files.setPosixFilePermissions(access, PosixFilePermissions.fromString("rw-------"));
    server = ServerProcess.start(state, List.of("--access-file", access.toString()));
    client = CryoClient.builder().target(server.target()).bearerToken(TOKEN).build();
    domains = client.domains();
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.close();
      String marker = state.toAbsolutePath().toString();
      List<ProcessHandle> left = ProcessHandle.allProcesses()
          .filter(p -> p.info().commandLine().map(c -> c.contains("qemu-system")
              && c.contains(marker)).orElse(false)).toList();
      left.forEach(ProcessHandle::destroyForcibly);
      assertThat(left).as("QEMU processes left running").isEmpty();
    }
  }

  @Test
  void qemu_runsUnprivilegedUnderSeccomp_andCannotReadServerSecrets() throws Exception {
    String name = "confined-" + System.nanoTime();
    Path disk = TestGuest.createQcow2(temp.resolve(name + ".qcow2"), "64M");
    int diskOwner = owner(disk);
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    try {
      domains.start(name);
      long pid = domains.get(name).pid();
      Map<String, String> status = procStatus(pid);
      int uid = Integer.parseInt(status.get("Uid").split("\\s+")[0]);
      int gid = Integer.parseInt(status.get("Gid").split("\\s+")[0]);
      assertThat(status.get("Uid").split("\\s+")).as("real, effective, saved, fs uid")
          .containsOnly(Integer.toString(uid));
      assertThat(uid).as("QEMU's uid").isNotZero();
      assertThat(gid).as("QEMU's gid").isNotZero();
      // No supplementary groups but /dev/kvm's, as libvirt's qemu user is in group kvm.
      String kvmGroup = Files.exists(Path.of("/dev/kvm"))
          ? Files.getAttribute(Path.of("/dev/kvm"), "unix:gid").toString() : "";
      assertThat(status.get("Groups")).as("supplementary groups").isIn("", kvmGroup);
      assertThat(status.get("Seccomp")).as("seccomp mode 2 (filter)").isEqualTo("2");
      assertThat(status.get("NoNewPrivs")).isEqualTo("1");
      assertThat(status.get("CapEff")).as("no capabilities").isEqualTo("0000000000000000");
      String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"))
          .replace('\0', ' ');
      assertThat(cmdline).contains("-sandbox on,obsolete=deny,elevateprivileges=deny,"
          + "spawn=deny,resourcecontrol=deny").contains("-nodefaults")
          .doesNotContain("-monitor").doesNotContain("-runas");

      // As QEMU's user: the control first, so the denials below cannot pass vacuously.
      assertThat(asUser(uid, gid, "head", "-c", "4", disk.toString()))
          .as("QEMU's user reads its own disk while the guest runs").isZero();
      assertThat(owner(disk)).as("the disk is QEMU's while it runs").isEqualTo(uid);
      assertThat(asUser(uid, gid, "cat", access.toString())).as("the access file").isNotZero();
      assertThat(asUser(uid, gid, "ls", state.toString())).as("listing the state folder")
          .isNotZero();
      assertThat(asUser(uid, gid, "cat", state.resolve("domains").resolve(name + ".xml")
          .toString())).as("a domain definition in the state folder").isNotZero();
      assertThat(asUser(uid, gid, "ls", state.resolve("domains").toString())).isNotZero();

      // GetDomain says the same, with the cgroup or why there is none.
      dev.cryo.api.v1.QemuConfinement c = rawGetDomain(name).getConfinement();
      assertThat(c.getUid()).isEqualTo(uid);
      assertThat(c.getUser()).isEqualTo("cryo-qemu");
      assertThat(c.getSeccomp()).isTrue();
      String cgroupLine = Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"))
          .stream().filter(l -> l.startsWith("0::")).findFirst().orElse("");
      if (c.getCgroup().isEmpty()) {
        // Hosts that keep memory/cpu in cgroup v1 (hybrid) or do not delegate: a reason, and
        // QEMU stays in the server's cgroup.
        assertThat(c.getCgroupUnavailableReason()).isNotEmpty();
        System.out.println("QEMU cgroup: none here: " + c.getCgroupUnavailableReason());
      } else {
        assertThat(cgroupLine).endsWith("/cryo-qemu/" + domains.get(name).uuid());
        assertThat(c.getCgroupMemoryMaxBytes()).isGreaterThan(128L << 20);
        assertThat(Files.readString(Path.of(c.getCgroup(), "memory.max")).strip())
            .isEqualTo(Long.toString(c.getCgroupMemoryMaxBytes()));
        assertThat(c.getCgroupCpuWeight()).isEqualTo(100);
      }

      domains.destroy(name);
      assertThat(owner(disk)).as("the disk's owner is given back when QEMU exits")
          .isEqualTo(diskOwner);
    } finally {
      cleanup(name);
    }
  }

  @Test
  void confinedGuest_savesRestoresSnapshotsAndBacksUp() throws Exception {
    String name = "confined-ops-" + System.nanoTime();
    Path images = Files.createDirectories(temp.resolve("ops-images"));
    Path disk = TestGuest.createQcow2(images.resolve("disk.qcow2"), "64M");
    domains.define(TestGuest.xml(name, 128, 0, disk, "qcow2"));
    Images img = client.images();
    try {
      domains.start(name);
      String boot;
      try (Console console = domains.console(name)) {
        boot = console.awaitLine(COUNTER, BOOT).group(2);
        write(console, "MARKER-1");
      }
      assertThat(procStatus(domains.get(name).pid()).get("Uid")).doesNotStartWith("0");

      // Save to a server file through the codec (QEMU writes into a descriptor), restore.
      Path saved = state.resolve("images").resolve(name + ".save");
      Files.createDirectories(saved.getParent());
      img.saveToServer(name, saved.toString(), SaveOptions.defaults()
          .compression(dev.cryo.client.ImageCompression.ZSTD));
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      img.restoreFromServer(saved.toString(), RestoreOptions.defaults());
      assertCarriesOn(name, boot);

      // A push backup into a new qcow2 (QEMU opens the target after start). Before the external
      // snapshot: a backup after one copies the frozen base, not the overlay (a Backups bug
      // outside confinement, reported to the lead).
      try (Console console = domains.console(name)) {
        write(console, "MARKER-2");
      }
      Path target = images.resolve("backup.qcow2");
      client.backups().startPush(name, BackupOptions.full(), Map.of("vda", target));
      BackupJob done = awaitBackup(name);
      assertThat(done.state()).isEqualTo(BackupJob.State.COMPLETED);
      // What the guest wrote last, read from the backup (not compared with the live disk, whose
      // newest qcow2 metadata may still sit in QEMU's cache).
      Path raw = images.resolve("backup.raw");
      assertThat(BackupGuest.qemuImg("convert", "-f", "qcow2", "-O", "raw", target.toString(),
          raw.toString())).isZero();
      assertThat(new String(TestGuest.readRaw(raw, 4096, 8), StandardCharsets.US_ASCII))
          .as("the backup holds the guest's last write").isEqualTo("MARKER-2");
      assertCarriesOn(name, boot);

      // Internal snapshot (memory and disk inside the qcow2), then an external disk-only one:
      // QEMU opens that overlay long after it started.
      Snapshot internal = client.snapshots().create(name, SnapshotRequest.builder()
          .name("i1").build());
      assertThat(internal.external()).isFalse();
      Snapshot external = client.snapshots().create(name, SnapshotRequest.builder()
          .name("e1").diskOnly(true).build());
      assertThat(external.external()).isTrue();
      Path overlay = Path.of(external.disks().get(0).file());
      assertThat(owner(overlay)).as("the overlay is QEMU's while it runs")
          .isEqualTo(owner(disk)).isNotZero();
      try (Console console = domains.console(name)) {
        write(console, "MARKER-3");
        assertThat(read(console)).as("the guest writes into the overlay").isEqualTo("MARKER-3");
      }
      assertCarriesOn(name, boot);

      domains.destroy(name);
      for (Path f : List.of(disk, overlay, target)) {
        assertThat(owner(f)).as("%s given back", f.getFileName()).isZero();
      }
    } finally {
      cleanup(name);
    }
  }

  @Test
  void server_refusesAnAccessFileQemuCouldRead() throws Exception {
    Path dir = Files.createDirectories(temp.resolve("loose"));
    Path loose = Files.writeString(dir.resolve("access"), "token sha256:" + sha256(TOKEN)
        + " root admin\n");
    Files.setPosixFilePermissions(loose, PosixFilePermissions.fromString("rw-r--r--"));
    assertThatThrownBy(() -> ServerProcess.start(dir.resolve("state"),
        List.of("--access-file", loose.toString())).close())
        .isInstanceOf(IOException.class)
        .hasMessageContaining("is readable by QEMU's user 'cryo-qemu'");
  }

  private static void assertCarriesOn(String name, String boot) {
    try (Console console = domains.console(name)) {
      console.skipReceived();
      Matcher beat = console.awaitLine(COUNTER, Duration.ofSeconds(60));
      assertThat(beat.group(2)).as("same boot").isEqualTo(boot);
    }
  }

  private static BackupJob awaitBackup(String name) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    BackupJob job = client.backups().job(name);
    while (job.state() == BackupJob.State.RUNNING && System.nanoTime() < deadline) {
      Thread.sleep(200); // no event API for backups yet: poll the job
      job = client.backups().job(name);
    }
    return job;
  }

  private static dev.cryo.api.v1.Domain rawGetDomain(String name) throws InterruptedException {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(server.target()).usePlaintext()
        .build();
    try {
      Metadata auth = new Metadata();
      auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + TOKEN);
      return DomainServiceGrpc.newBlockingStub(channel)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth))
          .getDomain(GetDomainRequest.newBuilder().setName(name).build()).getDomain();
    } finally {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  private static void cleanup(String name) {
    try {
      domains.destroy(name);
    } catch (RuntimeException e) {
      // Already off.
    }
  }

  /** Runs {@code argv} as {@code uid}:{@code gid} without groups; returns its exit code. */
  private static int asUser(int uid, int gid, String... argv) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid,
        "--clear-groups", "--"));
    cmd.addAll(List.of(argv));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return p.exitValue();
  }

  private static Map<String, String> procStatus(long pid) throws IOException {
    Map<String, String> out = new java.util.HashMap<>();
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      int colon = line.indexOf(':');
      out.put(line.substring(0, colon), line.substring(colon + 1).strip());
    }
    return out;
  }

  private static int owner(Path p) throws IOException {
    return (Integer) Files.getAttribute(p, "unix:uid");
  }

  private static String sha256(String s) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(s.getBytes(StandardCharsets.UTF_8)));
  }
}
