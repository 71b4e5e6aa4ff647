package dev.cryo.server.qemu;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How QEMU is confined, the way libvirt does it: a seccomp filter ({@link #SANDBOX}), an
 * unprivileged user of its own, and a cgroup v2 per process ({@link QemuCgroups}).
 *
 * <p><b>Why {@code setpriv} and not {@code -runas}.</b> QEMU 7.2 installs its seccomp filter
 * while parsing options and drops privileges for {@code -runas} only at the end of start-up
 * ({@code os_setup_post}); {@code elevateprivileges=deny} forbids {@code setuid}/{@code setgid},
 * so {@code -runas} with it kills QEMU with SIGSYS ("Bad system call", tried on 7.2.22). libvirt
 * never uses {@code -runas}: it switches user between fork and exec. Java cannot run code there,
 * so the argv starts with util-linux {@code setpriv --reuid --regid --clear-groups --}, which
 * switches and execs QEMU: QEMU is unprivileged from its first instruction.
 *
 * <p><b>Files.</b> Unprivileged from the start, QEMU opens its files as that user. Migration
 * streams are handed over as descriptors ({@code getfd}). Everything else is made accessible to
 * that user and no wider, as libvirt's DAC driver does: the run folder belongs to the server
 * with the QEMU user's group and mode 1770 (QEMU creates its sockets and logs there; the sticky
 * bit keeps it from replacing the server's own files); disks, their backing chains, snapshot
 * overlays and backup targets are chowned to the QEMU user before QEMU opens them, and given
 * back to their owner when QEMU exits (the owners are kept in {@code STATE/run/UUID.owners},
 * outside the folder QEMU can write, so they survive a server restart); kernel and initrd are
 * copied into the run folder, as a shared file cannot be chowned for one guest. The state
 * folder is left traversable (mode 0711) on the way to the run folders and closed (0700) below.
 *
 * <p>When the server does not run as root it cannot switch users: QEMU then runs as the
 * server's own user, under seccomp and with cgroups as available, and a log line says so.
 */
public final class QemuConfinement {
  private static final Logger log = LoggerFactory.getLogger(QemuConfinement.class);

  /** The default {@code --qemu-user}: a system user that {@code scripts/lib.sh} creates. */
  public static final String DEFAULT_USER = "cryo-qemu";
  /** {@code --qemu-user none}: QEMU runs as the server's user. */
  public static final String NO_USER = "none";
  /** libvirt's seccomp policy for QEMU ({@code seccomp_sandbox = 1} in qemu.conf). */
  public static final String SANDBOX =
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
  private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
  private static final int MAX_BACKING_DEPTH = 64;

  /** Null when QEMU runs as the server's user. */
  private final String user;
  private final int uid;
  private final int gid;
  private final int serverUid;
  private final String serverUser;
  private final QemuCgroups cgroups;
  /** The group of /dev/kvm QEMU joins (as libvirt's qemu user is in group kvm), or -1. */
  private final int kvmGid;

  private QemuConfinement(String user, int uid, int gid, int serverUid, String serverUser,
      QemuCgroups cgroups) {
    this.kvmGid = user == null ? -1 : kvmGroup(Path.of("/dev/kvm"));
    this.user = user;
    this.uid = uid;
    this.gid = gid;
    this.serverUid = serverUid;
    this.serverUser = serverUser;
    this.cgroups = cgroups;
  }

  /** A file QEMU must open lies behind a folder its user cannot traverse. */
  public static final class NotReachableException extends IOException {
    private static final long serialVersionUID = 1L;

    NotReachableException(String message) {
      super(message);
    }
  }

  /** What one QEMU process runs under, for GetDomain. */
  public record Applied(String user, int uid, boolean seccomp, QemuCgroups.Placement cgroup,
      String cgroupUnavailable) {}

  /**
   * Resolves {@code qemuUser} and logs how QEMU will run.
   *
   * @param qemuUser a user name, or {@link #NO_USER}
   * @throws IOException if the user does not exist, or setpriv is missing
   */
  public static QemuConfinement create(String qemuUser, QemuCgroups cgroups) throws IOException {
    int serverUid = ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue();
    String serverUser = System.getProperty("user.name");
    if (!cgroups.available()) {
      log.warn("QEMU cgroups: none, QEMU runs in the server's cgroup without memory or CPU "
          + "limits: {}", cgroups.unavailableReason());
    } else {
      log.info("QEMU cgroups: one per QEMU under {}", cgroups.dir("").orElseThrow());
    }
    if (NO_USER.equals(qemuUser)) {
      log.warn("QEMU user: none (--qemu-user none): QEMU runs as the server's user {} (uid {}), "
          + "under seccomp only", serverUser, serverUid);
      return new QemuConfinement(null, serverUid, -1, serverUid, serverUser, cgroups);
    }
    if (serverUid != 0) {
      log.warn("QEMU user: cannot switch to '{}': the server runs as {} (uid {}), not root; QEMU "
          + "runs as the server's user, under seccomp", qemuUser, serverUser, serverUid);
      return new QemuConfinement(null, serverUid, -1, serverUid, serverUser, cgroups);
    }
    int[] ids = lookupUser(qemuUser);
    if (ids[0] == 0) {
      throw new IOException("--qemu-user '" + qemuUser + "' is root; QEMU must run as an "
          + "unprivileged user");
    }
    if (!Files.isExecutable(SETPRIV)) {
      throw new IOException(SETPRIV + " (util-linux) is missing; it is needed to run QEMU as '"
          + qemuUser + "' (or pass --qemu-user none)");
    }
    log.info("QEMU user: {} (uid {}, gid {}), under seccomp", qemuUser, ids[0], ids[1]);
    return new QemuConfinement(qemuUser, ids[0], ids[1], serverUid, serverUser, cgroups);
  }

  /** uid and gid of {@code name}, through NSS ({@code getent passwd}). */
  private static int[] lookupUser(String name) throws IOException {
    if (!name.matches("[a-z_][a-z0-9_-]*[$]?") || name.length() > 32) {
      throw new IOException("--qemu-user '" + name + "' is not a user name");
    }
    Process p = new ProcessBuilder("getent", "passwd", name).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0 || out.isEmpty()) {
        throw new IOException("QEMU user '" + name + "' does not exist: create it (scripts/lib.sh "
            + "does: useradd --system --no-create-home --shell /usr/sbin/nologin " + name
            + ") or name another with --qemu-user");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while looking up " + name, e);
    }
    String[] f = out.split(":");
    return new int[] {Integer.parseInt(f[2]), Integer.parseInt(f[3])};
  }

  /** Whether QEMU runs as a user other than the server's. */
  public boolean switchesUser() {
    return user != null;
  }

  /** The uid QEMU runs as. */
  public int uid() {
    return uid;
  }

  /** The cgroups QEMU processes go into. */
  public QemuCgroups cgroups() {
    return cgroups;
  }

  /** What goes before QEMU's argv: setpriv to the QEMU user, or nothing. */
  public List<String> argvPrefix() {
    if (user == null) {
      return List.of();
    }
    return List.of(SETPRIV.toString(), "--reuid=" + uid, "--regid=" + gid,
        kvmGid >= 0 ? "--groups=" + kvmGid : "--clear-groups", "--");
  }

  /**
   * Why QEMU's user cannot open {@code /dev/kvm} read-write, or null if it can (or QEMU runs as
   * the server's user, whose access the host probe already checked).
   */
  public String kvmUnusableReason() {
    Path kvm = Path.of("/dev/kvm");
    if (user == null || !Files.exists(kvm)) {
      return null;
    }
    try {
      int mode = mode(kvm);
      int owner = ((Number) Files.getAttribute(kvm, "unix:uid")).intValue();
      int group = ((Number) Files.getAttribute(kvm, "unix:gid")).intValue();
      boolean rw = permits(mode, owner, group, uid, kvmGid >= 0 ? kvmGid : gid, 4)
          && permits(mode, owner, group, uid, kvmGid >= 0 ? kvmGid : gid, 2);
      return rw ? null : "QEMU's user '" + user + "' cannot open /dev/kvm (mode "
          + Integer.toOctalString(mode) + ", uid " + owner + ", gid " + group + "); give it a "
          + "kvm group with mode 0660, as udev does";
    } catch (IOException e) {
      return "cannot inspect /dev/kvm: " + e.getMessage();
    }
  }

  /** The group of a {@code /dev/kvm} its group may read and write, other than root; or -1. */
  private static int kvmGroup(Path kvm) {
    try {
      int mode = mode(kvm);
      int group = ((Number) Files.getAttribute(kvm, "unix:gid")).intValue();
      return group != 0 && (mode & 0060) == 0060 ? group : -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * Opens the way to the run folders and closes the rest of the state folder: {@code STATE} and
   * {@code STATE/run} become traversable but not listable (0711), so does {@code STATE/images};
   * every other entry of {@code STATE} loses group and other access. Fails if QEMU's user cannot
   * traverse the folders above {@code STATE}.
   */
  public void secureStateDir(Path stateDir, Path runRoot, Path imagesDir) throws IOException {
    if (user == null) {
      return;
    }
    Path state = stateDir.toAbsolutePath();
    Files.createDirectories(runRoot);
    chmod(state, 0711);
    chmod(runRoot, 0711);
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(state)) {
      for (Path e : entries) {
        if (e.equals(runRoot.toAbsolutePath())) {
          continue;
        }
        // The default image folder stays traversable, to reach disks granted to QEMU, but is
        // not listable: QEMU's user learns no other guest's file names.
        chmod(e, mode(e) & (e.equals(imagesDir.toAbsolutePath()) ? 0711 : 0700));
      }
    }
    Optional<Path> blocked = firstUnreachable(runRoot.toAbsolutePath(), false);
    if (blocked.isPresent()) {
      throw new IOException("QEMU's user '" + user + "' cannot reach the run folders in "
          + runRoot.toAbsolutePath() + ": " + blocked.get() + " is not traversable by it; "
          + "make the folders above the state folder traversable (chmod o+x) or pass "
          + "--qemu-user none");
    }
  }

  /**
   * Fails if QEMU's user could read {@code file} (the access file, a TLS key): a guest that
   * escapes QEMU must not learn who may call the server.
   */
  public void requireUnreadable(Path file, String what) throws IOException {
    if (user == null || file == null) {
      return;
    }
    if (firstUnreachable(file.toAbsolutePath(), true).isEmpty()) {
      throw new IOException(what + " " + file + " is readable by QEMU's user '" + user
          + "'; make it readable by the server only (chmod 600, in a folder QEMU's user cannot "
          + "enter)");
    }
  }

  /**
   * Makes a run folder QEMU's to write in but not to own: the server's, group QEMU's, mode 1770.
   */
  public void prepareRunDir(RunDir run) throws IOException {
    if (user == null) {
      return;
    }
    Path dir = run.path();
    Files.setAttribute(dir, "unix:uid", serverUid, LinkOption.NOFOLLOW_LINKS);
    Files.setAttribute(dir, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    chmod(dir, 01770);
    // An earlier QEMU could write here. Before the server writes in this folder again, drop what
    // it left but its serial logs, and every symbolic link: the server (root) must never follow
    // one that QEMU planted (a link named like the server's temporary files, say).
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path e : entries) {
        boolean link = Files.isSymbolicLink(e);
        int owner = ((Number) Files.getAttribute(e, "unix:uid", LinkOption.NOFOLLOW_LINKS))
            .intValue();
        boolean serialLog = e.getFileName().toString().startsWith(
            run.serialLog().getFileName().toString());
        if (link || (owner != serverUid && !serialLog)) {
          Files.deleteIfExists(e);
        }
      }
    }
  }

  /**
   * The spec QEMU can open as its user: kernel and initrd copied into the run folder (readable by
   * QEMU's group only). Unchanged when QEMU runs as the server's user.
   */
  public QemuSpec stageBootFiles(RunDir run, QemuSpec spec) throws IOException {
    if (user == null || spec.kernel() == null) {
      return spec;
    }
    Path kernel = copyForQemu(spec.kernel(), run.path().resolve("kernel"));
    Path initrd = spec.initrd() == null ? null
        : copyForQemu(spec.initrd(), run.path().resolve("initrd"));
    return spec.withBootFiles(kernel, initrd);
  }

  private Path copyForQemu(Path source, Path target) throws IOException {
    Files.deleteIfExists(target);
    Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
    Files.setAttribute(target, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    chmod(target, 0640);
    return target;
  }

  /**
   * {@code image} and the files of its qcow2 backing chain, top first, as QEMU will open them.
   * Callers confine each before {@link #grant}ing it: a backing name inside an image is as much
   * a caller's path as the disk's.
   */
  public static List<Path> backingChain(Path image) throws IOException {
    List<Path> chain = new ArrayList<>();
    Path file = image;
    for (int depth = 0; file != null && depth < MAX_BACKING_DEPTH; depth++) {
      chain.add(file);
      file = Files.isRegularFile(file) ? backingFile(file).orElse(null) : null;
    }
    return chain;
  }

  /**
   * Gives one file QEMU will open to QEMU's user until QEMU exits ({@link #release}): read and
   * write by its owner, as libvirt's DAC driver does. No-op when QEMU runs as the server's user.
   *
   * @throws NotReachableException if QEMU's user cannot reach the file's folder
   * @throws IOException if the file is missing
   */
  public void grant(RunDir run, Path file) throws IOException {
    if (user == null) {
      return;
    }
    Path real = file.toRealPath();
    Optional<Path> blocked = firstUnreachable(real.getParent(), false);
    if (blocked.isPresent()) {
      throw new NotReachableException("QEMU's user '" + user + "' cannot reach " + real + ": "
          + blocked.get() + " is not traversable by it (chmod o+x, as for "
          + "/var/lib/libvirt/images)");
    }
    int owner = ((Number) Files.getAttribute(real, "unix:uid")).intValue();
    int group = ((Number) Files.getAttribute(real, "unix:gid")).intValue();
    synchronized (this) {
      Map<Path, int[]> owners = readOwners(run);
      if (!owners.containsKey(real)) {
        int[] original = SharedGrants.take(real, new int[] {owner, group});
        owners.put(real, original);
        writeOwners(run, owners);
      }
      Files.setAttribute(real, "unix:uid", uid);
      Files.setAttribute(real, "unix:gid", gid);
    }
  }

  /** Gives every file granted for {@code run} back to its owner; safe to call twice. */
  public synchronized void release(RunDir run) {
    Path record = ownersFile(run);
    Map<Path, int[]> owners;
    try {
      owners = readOwners(run);
    } catch (IOException e) {
      log.warn("cannot read {}; files stay owned by {}: {}", record, user, e.getMessage());
      return;
    }
    for (Map.Entry<Path, int[]> e : owners.entrySet()) {
      try {
        if (!SharedGrants.drop(e.getKey())) {
          continue; // another QEMU (of this server or another on the host) still holds it
        }
        Files.setAttribute(e.getKey(), "unix:uid", e.getValue()[0], LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(e.getKey(), "unix:gid", e.getValue()[1], LinkOption.NOFOLLOW_LINKS);
      } catch (NoSuchFileException gone) {
        // Deleted meanwhile (a failed backup's target, a merged overlay): nothing to give back.
      } catch (IOException ex) {
        log.warn("could not give {} back to uid {}: {}", e.getKey(), e.getValue()[0],
            ex.getMessage());
      }
    }
    try {
      Files.deleteIfExists(record);
    } catch (IOException e) {
      log.warn("could not remove {}", record, e);
    }
  }

  /**
   * Moves a started QEMU into its cgroup, when there are cgroups. Failures are logged, not
   * thrown: a guest without limits is better than no guest, and the log says why.
   */
  public Applied place(RunDir run, String uuid, long pid, long memoryBytes, int vcpus,
      QemuSpec.Accelerator accel) {
    QemuCgroups.Placement placement = null;
    String why = cgroups.unavailableReason();
    if (cgroups.available()) {
      try {
        placement = cgroups.place(uuid, pid, memoryBytes, vcpus, accel);
      } catch (IOException e) {
        why = "could not place QEMU pid " + pid + " in its cgroup: " + e.getMessage();
        log.warn("{}", why);
      }
    }
    return applied(placement, why);
  }

  /** What a QEMU found running (after a server restart) runs under. */
  public Applied observed(String uuid, long pid) {
    QemuCgroups.Placement placement = null;
    Optional<Path> dir = cgroups.dir(uuid);
    if (dir.isPresent() && Files.isDirectory(dir.get())) {
      try {
        String max = Files.readString(dir.get().resolve("memory.max")).strip();
        String weight = Files.readString(dir.get().resolve("cpu.weight")).strip();
        placement = new QemuCgroups.Placement(dir.get(),
            max.equals("max") ? Long.MAX_VALUE : Long.parseLong(max), Integer.parseInt(weight));
      } catch (IOException | NumberFormatException e) {
        log.debug("cannot read cgroup {}", dir.get(), e);
      }
    }
    int actualUid = uid;
    try {
      actualUid = ((Number) Files.getAttribute(Path.of("/proc", Long.toString(pid)),
          "unix:uid")).intValue();
    } catch (IOException | RuntimeException e) {
      log.debug("cannot read the owner of pid {}", pid, e);
    }
    return new Applied(actualUid == uid && user != null ? user : actualUid == serverUid
        ? serverUser : Integer.toString(actualUid), actualUid, true, placement,
        placement == null ? cgroups.unavailableReason() : null);
  }

  private Applied applied(QemuCgroups.Placement placement, String why) {
    return new Applied(user != null ? user : serverUser, uid, true, placement,
        placement == null ? why : null);
  }

  /** Removes the cgroup of the exited QEMU of {@code uuid}. */
  public void removeCgroup(String uuid) {
    cgroups.remove(uuid);
  }

  // ---- files --------------------------------------------------------------------------------

  private static Path ownersFile(RunDir run) {
    return run.path().resolveSibling(run.path().getFileName() + ".owners");
  }

  private static Map<Path, int[]> readOwners(RunDir run) throws IOException {
    Map<Path, int[]> owners = new LinkedHashMap<>();
    Path record = ownersFile(run);
    if (!Files.exists(record)) {
      return owners;
    }
    for (String line : Files.readAllLines(record, StandardCharsets.UTF_8)) {
      String[] f = line.split(" ", 3);
      if (f.length == 3) {
        owners.put(Path.of(f[2]), new int[] {Integer.parseInt(f[0]), Integer.parseInt(f[1])});
      }
    }
    return owners;
  }

  private static void writeOwners(RunDir run, Map<Path, int[]> owners) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<Path, int[]> e : owners.entrySet()) {
      sb.append(e.getValue()[0]).append(' ').append(e.getValue()[1]).append(' ')
          .append(e.getKey()).append('\n');
    }
    Path record = ownersFile(run);
    Path temp = record.resolveSibling(record.getFileName() + ".tmp");
    Files.writeString(temp, sb.toString(), StandardCharsets.UTF_8);
    Files.move(temp, record, StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * The first folder on the way to {@code path} that QEMU's user cannot search (or {@code path}
   * itself when {@code read} and it cannot read it); empty when it can get there.
   */
  Optional<Path> firstUnreachable(Path path, boolean read) throws IOException {
    List<Path> dirs = new ArrayList<>();
    for (Path p = read ? path.getParent() : path; p != null; p = p.getParent()) {
      dirs.add(0, p);
    }
    for (Path d : dirs) {
      if (!allows(d, 1)) {
        return Optional.of(d);
      }
    }
    if (read && !allows(path, 4)) {
      return Optional.of(path);
    }
    return Optional.empty();
  }

  /** Whether QEMU's user (no supplementary groups) has {@code bit} (4 r, 2 w, 1 x) on {@code p}. */
  private boolean allows(Path p, int bit) throws IOException {
    int mode = mode(p);
    int owner = ((Number) Files.getAttribute(p, "unix:uid")).intValue();
    int group = ((Number) Files.getAttribute(p, "unix:gid")).intValue();
    return permits(mode, owner, group, uid, gid, bit);
  }

  /** POSIX permission check, owner bits first, then group, then other. */
  static boolean permits(int mode, int owner, int group, int uid, int gid, int bit) {
    if (uid == 0) {
      return true;
    }
    if (owner == uid) {
      return ((mode >> 6) & bit) != 0;
    }
    if (group == gid) {
      return ((mode >> 3) & bit) != 0;
    }
    return (mode & bit) != 0;
  }

  private static int mode(Path p) throws IOException {
    return ((Number) Files.getAttribute(p, "unix:mode")).intValue() & 07777;
  }

  private static void chmod(Path p, int mode) throws IOException {
    Files.setAttribute(p, "unix:mode", mode);
  }

  /** The backing file named in a qcow2 header, resolved as QEMU does; empty for other files. */
  static Optional<Path> backingFile(Path image) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
      if (f.length() < 20 || f.readInt() != 0x514649fb) {
        return Optional.empty();
      }
      f.readInt(); // version
      long offset = f.readLong();
      int size = f.readInt();
      if (offset == 0 || size <= 0 || size > 1023 || offset + size > f.length()) {
        return Optional.empty();
      }
      byte[] name = new byte[size];
      f.seek(offset);
      f.readFully(name);
      String s = new String(name, StandardCharsets.UTF_8);
      if (s.startsWith("json:") || s.contains("://")) {
        return Optional.empty();
      }
      Path backing = Path.of(s);
      return Optional.of(backing.isAbsolute() ? backing
          : image.toAbsolutePath().getParent().resolve(backing));
    }
  }
}
