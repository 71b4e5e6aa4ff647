package dev.cryo.server.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One cgroup v2 per QEMU process, as libvirt's {@code machine.slice} scopes: a memory limit
 * ({@code memory.max}: guest RAM plus QEMU's overhead) and a CPU weight. Only where the host
 * hands the {@code memory} and {@code cpu} controllers to the server's cgroup v2; elsewhere
 * {@link #unavailableReason()} says why and QEMU runs in the server's cgroup.
 *
 * <p>Layout: {@code BASE/cryo-qemu/UUID}, where BASE is the server's own cgroup. When BASE is not
 * the root of the hierarchy it holds the server, and cgroup v2 forbids enabling controllers for
 * children of a cgroup that holds processes; the server then moves itself into {@code
 * BASE/cryo-server}, as systemd asks of services with {@code Delegate=yes}.
 */
public final class QemuCgroups {
  private static final Logger log = LoggerFactory.getLogger(QemuCgroups.class);
  static final Set<String> CONTROLLERS = Set.of("memory", "cpu");
  /** QEMU's own needs beyond guest RAM: code, device state, I/O buffers, page tables. */
  static final long BASE_OVERHEAD_BYTES = 256L << 20;
  /** TCG's translation cache: QEMU 7.2 reserves up to 1 GiB and fills it as code runs. */
  static final long TCG_OVERHEAD_BYTES = 1L << 30;

  private final Path parent;
  private final String unavailableReason;

  private QemuCgroups(Path parent, String unavailableReason) {
    this.parent = parent;
    this.unavailableReason = unavailableReason;
  }

  /** What a QEMU's cgroup was given. */
  public record Placement(Path dir, long memoryMaxBytes, int cpuWeight) {}

  /** No cgroups, for the reason given. */
  public static QemuCgroups unavailable(String reason) {
    return new QemuCgroups(null, reason);
  }

  /** Finds the server's cgroup v2 and checks that it can make QEMU cgroups under it. */
  public static QemuCgroups detect() {
    String mountinfo;
    String self;
    try {
      mountinfo = Files.readString(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8);
      self = Files.readString(Path.of("/proc/self/cgroup"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return unavailable("cannot read /proc/self: " + e.getMessage());
    }
    Optional<Path> mount = cgroup2Mount(mountinfo);
    if (mount.isEmpty()) {
      return unavailable("no cgroup v2 hierarchy is mounted");
    }
    Optional<String> own = ownCgroup(self);
    if (own.isEmpty()) {
      return unavailable("the server is in no cgroup v2 (no 0:: line in /proc/self/cgroup)");
    }
    return at(mount.get(), own.get(), ProcessHandle.current().pid());
  }

  /**
   * Prepares {@code mount + ownPath} for QEMU cgroups: checks the controllers, moves the server
   * into a leaf if it must, enables the controllers for children. Package-private for tests,
   * which pass a temporary folder as {@code mount}.
   */
  static QemuCgroups at(Path mount, String ownPath, long serverPid) {
    Path base = ownPath.equals("/") ? mount : mount.resolve(ownPath.substring(1));
    Set<String> offered;
    try {
      offered = words(Files.readString(base.resolve("cgroup.controllers")));
    } catch (IOException e) {
      return unavailable("cannot read " + base.resolve("cgroup.controllers") + ": "
          + e.getMessage());
    }
    List<String> missing = CONTROLLERS.stream().filter(c -> !offered.contains(c)).sorted()
        .toList();
    if (!missing.isEmpty()) {
      return unavailable("cgroup v2 at " + base + " does not offer the " + String.join(" and ",
          missing) + " controller" + (missing.size() > 1 ? "s" : "") + " (offered: "
          + (offered.isEmpty() ? "none" : String.join(" ", offered.stream().sorted().toList()))
          + "); the host keeps them in cgroup v1 or does not delegate them to the server");
    }
    try {
      if (!ownPath.equals("/")) {
        // cgroup v2's no-internal-processes rule: the server leaves BASE for a leaf of its own.
        Path leaf = Files.createDirectories(base.resolve("cryo-server"));
        Files.writeString(leaf.resolve("cgroup.procs"), Long.toString(serverPid));
      }
      enable(base);
      Path parent = Files.createDirectories(base.resolve("cryo-qemu"));
      enable(parent);
      return new QemuCgroups(parent, null);
    } catch (IOException e) {
      return unavailable("cannot enable the memory and cpu controllers under " + base + ": "
          + e.getMessage());
    }
  }

  private static void enable(Path dir) throws IOException {
    Set<String> on = words(Files.readString(dir.resolve("cgroup.subtree_control")));
    List<String> add = new ArrayList<>();
    for (String c : CONTROLLERS.stream().sorted().toList()) {
      if (!on.contains(c)) {
        add.add("+" + c);
      }
    }
    if (!add.isEmpty()) {
      Files.writeString(dir.resolve("cgroup.subtree_control"), String.join(" ", add));
    }
  }

  /** Whether QEMU processes get a cgroup each. */
  public boolean available() {
    return parent != null;
  }

  /** Why there are no QEMU cgroups; null when there are. */
  public String unavailableReason() {
    return unavailableReason;
  }

  /** The cgroup of the QEMU with this UUID; empty when cgroups are unavailable. */
  public Optional<Path> dir(String uuid) {
    return parent == null ? Optional.empty() : Optional.of(parent.resolve(uuid));
  }

  /**
   * Creates the cgroup of one QEMU, sets its limits and moves {@code pid} into it. QEMU runs for
   * a few milliseconds in the server's cgroup before that: Java cannot start a process inside
   * a cgroup ({@code clone3(CLONE_INTO_CGROUP)}).
   */
  public Placement place(String uuid, long pid, long memoryBytes, int vcpus,
      QemuSpec.Accelerator accel) throws IOException {
    Path dir = Files.createDirectories(dir(uuid).orElseThrow(
        () -> new IllegalStateException("cgroups unavailable: " + unavailableReason)));
    long memoryMax = memoryMax(memoryBytes, accel);
    int weight = cpuWeight(vcpus);
    Files.writeString(dir.resolve("memory.max"), Long.toString(memoryMax));
    Files.writeString(dir.resolve("cpu.weight"), Integer.toString(weight));
    Files.writeString(dir.resolve("cgroup.procs"), Long.toString(pid));
    return new Placement(dir, memoryMax, weight);
  }

  /** Removes the cgroup of an exited QEMU, if there is one. */
  public void remove(String uuid) {
    Optional<Path> dir = dir(uuid);
    if (dir.isEmpty()) {
      return;
    }
    try {
      // A cgroup is removed with rmdir even though its interface files are still listed.
      Files.deleteIfExists(dir.get());
    } catch (IOException e) {
      log.warn("could not remove cgroup {}: {}", dir.get(), e.getMessage());
    }
  }

  /** Guest RAM plus QEMU's overhead: a guest that can use all its RAM is never OOM-killed. */
  static long memoryMax(long memoryBytes, QemuSpec.Accelerator accel) {
    return memoryBytes + memoryBytes / 16 + BASE_OVERHEAD_BYTES
        + (accel == QemuSpec.Accelerator.TCG ? TCG_OVERHEAD_BYTES : 0);
  }

  /** 100 (cgroup v2's default) per virtual CPU, so a larger guest gets a larger share. */
  static int cpuWeight(int vcpus) {
    return (int) Math.min(10_000, 100L * Math.max(1, vcpus));
  }

  /** The mount point of the cgroup2 file system in /proc/self/mountinfo text. */
  static Optional<Path> cgroup2Mount(String mountinfo) {
    for (String line : mountinfo.split("\n")) {
      // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
      String[] halves = line.split(" - ", 2);
      if (halves.length < 2) {
        continue;
      }
      String[] left = halves[0].split(" ");
      String[] right = halves[1].split(" ");
      if (right.length > 0 && right[0].equals("cgroup2") && left.length > 4) {
        return Optional.of(Path.of(left[4].replace("\\040", " ")));
      }
    }
    return Optional.empty();
  }

  /** The server's cgroup v2 path from /proc/self/cgroup text (the {@code 0::} line). */
  static Optional<String> ownCgroup(String procSelfCgroup) {
    for (String line : procSelfCgroup.split("\n")) {
      if (line.startsWith("0::")) {
        String path = line.substring(3).strip();
        return path.startsWith("/") ? Optional.of(path) : Optional.empty();
      }
    }
    return Optional.empty();
  }

  private static Set<String> words(String s) {
    String t = s.strip();
    return t.isEmpty() ? Set.of() : Set.of(t.split("\\s+"));
  }
}
