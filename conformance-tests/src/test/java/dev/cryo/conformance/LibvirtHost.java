package dev.cryo.conformance;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The host's libvirt as the tests drive it, as root and without systemd: installed from Debian
 * packages if missing, {@code virtlogd} and {@code libvirtd} started by hand, {@code virsh} on
 * {@code qemu:///system}, and temporary {@code qemu.conf} settings (e.g. {@code
 * save_image_format}) that {@link #close()} puts back. While open it holds a host-wide file lock,
 * so two test JVMs do not rewrite {@code qemu.conf} or restart {@code libvirtd} under each other.
 */
final class LibvirtHost implements AutoCloseable {
  static final Path VIRSH = Path.of("/usr/bin/virsh");
  static final Path QEMU_CONF = Path.of("/etc/libvirt/qemu.conf");
  /** The untouched qemu.conf while a test has changed it; a crashed run leaves it to restore. */
  private static final Path QEMU_CONF_BACKUP = Path.of("/etc/libvirt/qemu.conf.cryo-test-orig");
  private static final Path LIBVIRTD_PID = Path.of("/run/libvirtd.pid");
  private static final Path VIRTLOGD_SOCK = Path.of("/run/libvirt/virtlogd-sock");
  private static final Path LOCK = Path.of("/var/tmp/cryo-libvirt-host.lock");

  private final FileChannel lockFile;
  private final FileLock lock;
  private final String originalConf;
  private boolean closed;

  private LibvirtHost(FileChannel lockFile, FileLock lock, String originalConf) {
    this.lockFile = lockFile;
    this.lock = lock;
    this.originalConf = originalConf;
  }

  static boolean installed() {
    return Files.isExecutable(VIRSH);
  }

  /**
   * Takes the host lock (waits for another test JVM to let go), installs libvirt if {@code
   * install} and it is missing, puts back a qemu.conf a crashed run left changed, and starts the
   * daemons if they are not running.
   */
  static LibvirtHost open(boolean install) throws Exception {
    if (!installed()) {
      if (!install) {
        throw new IllegalStateException("libvirt is not installed (no " + VIRSH + ")");
      }
      aptInstall("libvirt-daemon-system", "libvirt-clients");
    }
    FileChannel ch = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock = ch.lock();
    try {
      boolean restart = false;
      if (Files.exists(QEMU_CONF_BACKUP)) {
        Files.move(QEMU_CONF_BACKUP, QEMU_CONF, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        restart = true;
      }
      LibvirtHost host = new LibvirtHost(ch, lock, Files.readString(QEMU_CONF));
      if (restart) {
        host.restartDaemon();
      } else {
        startDaemons();
      }
      return host;
    } catch (Exception | Error e) {
      lock.release();
      ch.close();
      throw e;
    }
  }

  /**
   * Why libvirt would probe QEMU's capabilities again on every domain start on this host, or
   * null. libvirt drops its capability cache when the probe saw KVM but {@code /dev/kvm} is not
   * usable by its QEMU user ("KVM was enabled when probing ..., but it is not available now"):
   * here {@code /dev/kvm} is root-only (no udev), which adds seconds to every {@code virsh
   * restore}.
   */
  static String reprobeReason() throws Exception {
    if (!Files.exists(Path.of("/dev/kvm"))) {
      return null;
    }
    Process p = new ProcessBuilder("runuser", "-u", "libvirt-qemu", "--", "test", "-r",
        "/dev/kvm", "-a", "-w", "/dev/kvm").redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() != 0
        ? "/dev/kvm is not read-writable by libvirt-qemu, so libvirt re-probes QEMU on every start"
        : null;
  }

  /**
   * Writes the original qemu.conf with {@code settings} (key to raw value, e.g. {@code
   * save_image_format} to {@code "zstd"} with the quotes) in place of any such lines, and
   * restarts libvirtd so it reads them. Running domains keep running; libvirtd reconnects.
   */
  void configure(Map<String, String> settings) throws Exception {
    StringBuilder conf = new StringBuilder();
    for (String line : originalConf.split("\n", -1)) {
      boolean overridden = settings.keySet().stream().anyMatch(k -> Pattern
          .compile("^\\s*" + Pattern.quote(k) + "\\s*=").matcher(line).find());
      conf.append(overridden ? "#" : "").append(line).append('\n');
    }
    conf.append("# Set by a Cryo test; the original is in ").append(QEMU_CONF_BACKUP)
        .append('\n');
    settings.forEach((k, v) -> conf.append(k).append(" = ").append(v).append('\n'));
    if (!Files.exists(QEMU_CONF_BACKUP)) {
      Files.writeString(QEMU_CONF_BACKUP, originalConf);
    }
    Files.writeString(QEMU_CONF, conf.toString());
    restartDaemon();
  }

  /** Stops libvirtd (SIGTERM: its domains keep running) and starts it again. */
  void restartDaemon() throws Exception {
    Optional<ProcessHandle> daemon = daemon();
    if (daemon.isPresent()) {
      daemon.get().destroy();
      try {
        daemon.get().onExit().get(60, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        daemon.get().destroyForcibly();
        daemon.get().onExit().get(30, TimeUnit.SECONDS);
      }
    }
    startDaemons();
  }

  /** {@code virsh -c qemu:///system ARGS}; its output, or AssertionError when it fails. */
  String virsh(String... args) throws Exception {
    List<String> argv = new ArrayList<>(List.of(VIRSH.toString(), "-c", "qemu:///system"));
    argv.addAll(List.of(args));
    return run(argv, 900);
  }

  /** The running libvirtd's version, e.g. {@code 9.0.0}. */
  String daemonVersion() throws Exception {
    java.util.regex.Matcher m = Pattern.compile("Running against daemon: (\\S+)")
        .matcher(virsh("version", "--daemon"));
    return m.find() ? m.group(1) : "(unknown version)";
  }

  /**
   * True when a failed {@code virsh save} says that libvirt does not know the configured {@code
   * save_image_format} (libvirt 9.0 knows raw, gzip, bzip2, xz and lzop; zstd came later).
   */
  static boolean unknownSaveFormat(Throwable virshFailure) {
    return String.valueOf(virshFailure.getMessage()).contains("Invalid save image format");
  }

  /** As {@link #virsh}, for cleanup: failures are ignored. */
  void virshQuiet(String... args) {
    try {
      virsh(args);
    } catch (Exception | AssertionError e) {
      // Cleanup.
    }
  }

  /** Puts back the original qemu.conf (restarting libvirtd if it changed), releases the lock. */
  @Override
  public void close() throws Exception {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (Files.exists(QEMU_CONF_BACKUP)) {
        Files.writeString(QEMU_CONF, originalConf);
        Files.delete(QEMU_CONF_BACKUP);
        restartDaemon();
      }
    } finally {
      try {
        lock.release();
      } finally {
        lockFile.close();
      }
    }
  }

  /** Installs Debian packages with apt-get (updating the lists once if the first try fails). */
  static void aptInstall(String... packages) throws Exception {
    List<String> argv = new ArrayList<>(List.of("apt-get", "install", "-y",
        "--no-install-recommends"));
    argv.addAll(List.of(packages));
    try {
      run(argv, 900);
    } catch (AssertionError e) {
      run(List.of("apt-get", "update"), 900);
      run(argv, 900);
    }
  }

  /** True when {@code tool} is on the PATH, installing {@code pkg} first if it is not. */
  static boolean ensureTool(String tool, String pkg) {
    if (onPath(tool)) {
      return true;
    }
    try {
      aptInstall(pkg);
    } catch (Exception | AssertionError e) {
      return false;
    }
    return onPath(tool);
  }

  static boolean onPath(String tool) {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(dir, tool))) {
        return true;
      }
    }
    return false;
  }

  static String run(List<String> argv, int seconds) throws Exception {
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(seconds, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new AssertionError(String.join(" ", argv) + " failed:\n" + out);
    }
    return out;
  }

  private static Optional<ProcessHandle> daemon() throws IOException {
    if (!Files.exists(LIBVIRTD_PID)) {
      return Optional.empty();
    }
    String pid = Files.readString(LIBVIRTD_PID).trim();
    return pid.isEmpty() ? Optional.empty() : ProcessHandle.of(Long.parseLong(pid))
        .filter(h -> h.isAlive() && h.info().command().orElse("").endsWith("libvirtd"));
  }

  // No systemd here: start the daemons by hand (virtlogd keeps QEMU's logs for libvirtd).
  private static void startDaemons() throws Exception {
    // A virtlogd that died (the machine's earlier run) leaves its socket behind.
    if (ProcessHandle.allProcesses()
        .noneMatch(h -> h.info().command().orElse("").endsWith("/virtlogd"))) {
      Files.deleteIfExists(VIRTLOGD_SOCK);
      run(List.of("/usr/sbin/virtlogd", "--daemon"), 60);
    }
    if (daemon().isEmpty()) {
      run(List.of("/usr/sbin/libvirtd", "--daemon"), 60);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      try {
        run(List.of(VIRSH.toString(), "-c", "qemu:///system", "uri"), 30);
        return;
      } catch (AssertionError e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(200);
      }
    }
  }
}
