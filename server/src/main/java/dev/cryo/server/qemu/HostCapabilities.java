package dev.cryo.server.qemu;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What this host's QEMU can do: the binary, whether KVM can really run a guest, which concrete
 * machine type each alias ({@code pc}, {@code q35}) stands for, and which CPU models it has.
 * Probed once at server start.
 */
public final class HostCapabilities {
  private static final Logger log = LoggerFactory.getLogger(HostCapabilities.class);
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(30);
  private static final Pattern ALIAS = Pattern.compile("^(\\S+)\\s+.*\\(alias of (\\S+)\\)\\s*$");

  private final Path qemuBinary;
  private final boolean kvmUsable;
  private final String kvmUnusableReason;
  private final Map<String, String> machineAliases;
  private final List<String> cpuModels;

  HostCapabilities(Path qemuBinary, String kvmUnusableReason, Map<String, String> machineAliases,
      List<String> cpuModels) {
    this.qemuBinary = qemuBinary;
    this.kvmUsable = kvmUnusableReason == null;
    this.kvmUnusableReason = kvmUnusableReason;
    this.machineAliases = Map.copyOf(machineAliases);
    this.cpuModels = List.copyOf(cpuModels);
  }

  /** Probes the host. Fails if the QEMU binary cannot run. */
  public static HostCapabilities probe(Path qemuBinary) throws IOException {
    if (!Files.isExecutable(qemuBinary)) {
      throw new IOException(qemuBinary + " is not an executable QEMU binary; install "
          + "qemu-system-x86 (apt-get install qemu-system-x86) or pass --qemu");
    }
    String reason = kvmUnusableReason(Path.of("/dev/kvm"), Path.of("/proc/cpuinfo"));
    Map<String, String> aliases = parseMachineAliases(run(qemuBinary, "-machine", "help"));
    List<String> cpuModels = probeCpuModels(qemuBinary);
    HostCapabilities caps = new HostCapabilities(qemuBinary, reason, aliases, cpuModels);
    log.info("QEMU {}: KVM {}, machine aliases {}, {} CPU models", qemuBinary,
        reason == null ? "usable" : "not usable (" + reason + ")", aliases, cpuModels.size());
    return caps;
  }

  /**
   * The CPU models QEMU knows, from {@code query-cpu-definitions} on a QEMU without a machine
   * ({@code -machine none}, as libvirt probes): the names are the same under KVM and TCG.
   */
  private static List<String> probeCpuModels(Path qemuBinary) throws IOException {
    Path dir = Files.createTempDirectory("cryo-probe-");
    Path socket = dir.resolve("qmp.sock");
    Path qemuLog = dir.resolve("qemu.log");
    Process p = new ProcessBuilder(List.of(qemuBinary.toString(), "-machine", "none", "-accel",
        "tcg", "-nodefaults", "-no-user-config", "-display", "none",
        "-qmp", "unix:" + QemuCommandLine.escape(socket.toString()) + ",server=on,wait=off"))
        .redirectErrorStream(true).redirectOutput(qemuLog.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
    try (QemuMonitor qmp = QemuMonitor.connect(socket, PROBE_TIMEOUT, "(host probe)")) {
      return qmp.queryCpuDefinitions().stream().map(QemuMonitor.CpuDefinition::name).toList();
    } catch (IOException | RuntimeException e) {
      String out = Files.exists(qemuLog) ? Files.readString(qemuLog).strip() : "";
      throw new IOException(qemuBinary + " did not list its CPU models (query-cpu-definitions): "
          + e.getMessage() + (out.isEmpty() ? "" : "; QEMU said: " + out), e);
    } finally {
      p.destroyForcibly();
      try {
        p.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      Files.deleteIfExists(socket);
      Files.deleteIfExists(qemuLog);
      Files.deleteIfExists(dir);
    }
  }

  /**
   * Why KVM cannot run a guest here, or null if it can. {@code /dev/kvm} must open read-write
   * <em>and</em> the CPU must advertise {@code vmx} or {@code svm}: some nested setups expose a
   * {@code /dev/kvm} on which a stock kernel hangs at boot, and they lack those flags.
   */
  static String kvmUnusableReason(Path devKvm, Path cpuinfo) {
    // Open without CREATE: a missing /dev/kvm must not become a regular file.
    try (FileChannel ch = FileChannel.open(devKvm, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      // Opened: good.
    } catch (IOException | RuntimeException e) {
      return devKvm + " cannot be opened read-write";
    }
    try {
      for (String line : Files.readAllLines(cpuinfo, StandardCharsets.UTF_8)) {
        if (line.startsWith("flags") && line.matches(".*\\b(vmx|svm)\\b.*")) {
          return null;
        }
      }
    } catch (IOException e) {
      return cpuinfo + " cannot be read";
    }
    return "the CPU advertises neither vmx nor svm";
  }

  static Map<String, String> parseMachineAliases(String machineHelp) {
    Map<String, String> aliases = new HashMap<>();
    for (String line : machineHelp.split("\n")) {
      Matcher m = ALIAS.matcher(line);
      if (m.matches()) {
        aliases.put(m.group(1), m.group(2));
      }
    }
    return aliases;
  }

  private static String run(Path binary, String... args) throws IOException {
    List<String> argv = new java.util.ArrayList<>();
    argv.add(binary.toString());
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException(String.join(" ", argv) + " failed: " + out.strip());
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while probing QEMU", e);
    } finally {
      p.destroyForcibly();
    }
  }

  /**
   * These capabilities, with KVM unusable for {@code reason} (QEMU's user cannot open {@code
   * /dev/kvm}, say) if it was usable.
   */
  public HostCapabilities withoutKvm(String reason) {
    if (!kvmUsable || reason == null) {
      return this;
    }
    log.warn("KVM not usable by QEMU: {}", reason);
    return new HostCapabilities(qemuBinary, reason, machineAliases, cpuModels);
  }

  public Path qemuBinary() {
    return qemuBinary;
  }

  public boolean kvmUsable() {
    return kvmUsable;
  }

  /** Why KVM is not usable, or null when it is. */
  public String kvmUnusableReason() {
    return kvmUnusableReason;
  }

  /** The CPU model names {@code -cpu} takes on this host, in QEMU's order. */
  public List<String> cpuModels() {
    return cpuModels;
  }

  /** The concrete machine type for {@code machine}: aliases resolved, others unchanged. */
  public String resolveMachine(String machine) {
    return machineAliases.getOrDefault(machine, machine);
  }
}
