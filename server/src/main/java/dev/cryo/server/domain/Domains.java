package dev.cryo.server.domain;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.PermissionDeniedException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.BlockdevOptions;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.HostPorts;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuConfinement;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuProcess;
import dev.cryo.server.qemu.QemuSpec;
import dev.cryo.server.qemu.RunDir;
import dev.cryo.server.qemu.SerialConsole;
import dev.cryo.server.store.AtomicFile;
import dev.cryo.server.store.ImageRoots;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The domains defined on this server and their lifecycle: define, start, suspend, resume,
 * shutdown, destroy, undefine, and the events those produce.
 *
 * <p>State on disk: {@code STATE/domains/NAME.xml} for each definition (written atomically) and
 * {@code STATE/run/UUID/} for each QEMU process (sockets, pid file, logs, last known state). QEMU
 * processes outlive the server; {@link #open} re-attaches to the ones still running.
 *
 * <p>Every operation that names or touches a domain takes the caller's {@link Principal}: a
 * domain the caller does not see does not exist for it (NOT_FOUND), and its jobs count against
 * the caller's limit. Work the server does on its own behalf passes {@link Principal#INTERNAL}.
 */
public final class Domains implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Domains.class);
  private static final Duration QMP_CONNECT_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration GRACEFUL_KILL = Duration.ofSeconds(10);
  private static final String ACCEL_FILE = "accelerator";

  private final Path stateDir;
  private final Path domainsDir;
  private final Path runRoot;
  private final Path saveDir;
  private final HostCapabilities host;
  private final AcceleratorPolicy accelPolicy;
  private final JobLimits limits;
  private final ImageRoots roots;
  private final QemuConfinement confinement;
  /** Guarded by {@code this}: define and undefine check names and UUIDs against it. */
  private final Map<String, Domain> byName = new TreeMap<>();
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();
  /** Runs what a QEMU event asks of the server (QMP calls may not run on the event thread). */
  private final ExecutorService lifecycle = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "cryo-lifecycle");
    t.setDaemon(true);
    return t;
  });

  private Domains(Path stateDir, HostCapabilities host, AcceleratorPolicy accelPolicy,
      JobLimits limits, ImageRoots roots, QemuConfinement confinement) {
    this.limits = limits;
    this.roots = roots;
    this.confinement = confinement;
    this.stateDir = stateDir;
    this.domainsDir = stateDir.resolve("domains");
    this.runRoot = stateDir.resolve("run");
    this.saveDir = stateDir.resolve("save");
    this.host = host;
    this.accelPolicy = accelPolicy;
  }

  /** How domains of {@code type='kvm'} pick their accelerator; {@code type='qemu'} is TCG. */
  public enum AcceleratorPolicy {
    /** KVM when it can run a guest here, TCG otherwise. */
    AUTO,
    /** KVM or fail to start. */
    KVM,
    /** Always TCG. */
    TCG
  }

  /**
   * Loads every definition under {@code stateDir} and re-attaches to the QEMU processes an earlier
   * server left running. With a QEMU user, the state folder is closed to it but for the way to
   * the run folders ({@link QemuConfinement#secureStateDir}).
   */
  public static Domains open(Path stateDir, HostCapabilities host, AcceleratorPolicy policy,
      JobLimits limits, ImageRoots roots, QemuConfinement confinement) throws IOException {
    Domains domains = new Domains(stateDir, host, policy, limits, roots, confinement);
    Files.createDirectories(domains.domainsDir);
    Files.createDirectories(domains.runRoot);
    Files.createDirectories(domains.saveDir);
    confinement.secureStateDir(stateDir, domains.runRoot, stateDir.resolve("images"));
    domains.load();
    return domains;
  }

  private void load() throws IOException {
    try (DirectoryStream<Path> files = Files.newDirectoryStream(domainsDir, "*.xml")) {
      for (Path file : files) {
        if (!Files.isRegularFile(file)) {
          continue; // STATE/domains/NAME/ metadata folder of a domain whose name ends in .xml
        }
        DomainDef def;
        try {
          def = DomainXml.parse(Files.readString(file, StandardCharsets.UTF_8)).def();
        } catch (RuntimeException e) {
          log.error("skipping unreadable domain definition {}: {}", file, e.getMessage());
          continue;
        }
        Domain domain = new Domain(def, new RunDir(runRoot.resolve(def.getUuid())), limits);
        synchronized (this) {
          byName.put(domain.name(), domain);
        }
        reattach(domain);
      }
    }
  }

  private void reattach(Domain domain) {
    Optional<QemuProcess> process = QemuProcess.reattach(domain.runDir());
    if (process.isEmpty()) {
      boolean wasActive = Files.exists(domain.runDir().pidFile());
      if (wasActive) {
        log.warn("domain '{}' was running when the server stopped and its QEMU is gone",
            domain.name());
        cleanRunDir(domain.runDir());
        releaseConfinement(domain);
        domain.setState(DomainState.SHUTOFF, StateReason.CRASHED);
      }
      return;
    }
    QemuMonitor qmp = null;
    try {
      qmp = QemuMonitor.connect(domain.runDir().qmpSocket(), QMP_CONNECT_TIMEOUT, domain.name());
      SerialConsole console = SerialConsole.connect(domain.runDir());
      String status = qmp.queryStatus().status();
      String accel = readAccelFile(domain.runDir()).orElse("");
      RunningQemu running = new RunningQemu(process.get(), qmp, console,
          accel.contains("kvm") ? QemuSpec.Accelerator.KVM : QemuSpec.Accelerator.TCG,
          confinement.observed(domain.uuid(), process.get().pid()));
      running.pausesOnPoweroff = QemuSpecs.lifecycle(domain.def()).pauseOnPoweroff();
      attach(domain, running);
      if ("running".equals(status)) {
        setState(domain, DomainState.RUNNING, StateReason.REATTACHED, null);
      } else {
        setState(domain, DomainState.PAUSED, pausedReason(status), null);
      }
      log.info("re-attached to domain '{}' (QEMU pid {}, {})", domain.name(),
          process.get().pid(), status);
    } catch (IOException | CryoException e) {
      log.error("could not re-attach to QEMU pid {} of domain '{}'; leaving it alone: {}",
          process.get().pid(), domain.name(), e.getMessage());
      if (qmp != null) {
        qmp.close();
      }
    }
  }

  // ---- definitions -------------------------------------------------------------------------

  /** The result of a define: the domain and what in the XML was ignored. */
  public record Defined(DomainInfo domain, List<String> warnings) {}

  /**
   * Defines a domain from XML, or updates the definition of the domain with the same name and
   * UUID (a running domain uses the new definition from its next start).
   */
  public Defined define(Principal caller, String xml) {
    DomainXml.Parsed parsed;
    try {
      parsed = DomainXml.parseDefinition(xml);
    } catch (InvalidArgumentException e) {
      throw new CryoException(Reason.DOMAIN_XML_INVALID, e.getMessage(), e).field("xml");
    }
    return new Defined(define(caller, parsed.def()), parsed.warnings());
  }

  /** Defines a domain from an already validated definition. */
  public DomainInfo define(Principal caller, DomainDef def) {
    Domain domain;
    boolean created;
    if (!caller.sees(def.getName())) {
      throw new CryoException(
              Reason.ROLE_DENIED,
              "principal '"
                  + caller.name()
                  + "' may only define the domains "
                  + new TreeSet<>(caller.domains()))
          .with("principal", caller.name());
    }
    confineFiles(def);
    QemuSpecs.checkCpuModel(def, host);
    synchronized (this) {
      DomainNames.check(def.getName());
      Domain existing = byName.get(def.getName());
      if (existing != null && !existing.uuid().equals(def.getUuid())) {
        throw new CryoException(
                Reason.DOMAIN_EXISTS,
                "domain '"
                    + def.getName()
                    + "' already exists with UUID "
                    + existing.uuid()
                    + "; use that UUID to update it, or another name")
            .with("domain", def.getName());
      }
      for (Domain other : byName.values()) {
        if (other != existing && other.uuid().equals(def.getUuid())) {
          throw new CryoException(
                  Reason.DOMAIN_EXISTS,
                  "UUID " + def.getUuid() + " already belongs to domain '" + other.name() + "'")
              .with("domain", other.name());
        }
      }
      try {
        AtomicFile.write(definitionFile(def.getName()), DomainXml.format(def));
      } catch (IOException e) {
        throw new InternalException("could not store the definition of '" + def.getName() + "'",
            e);
      }
      created = existing == null;
      if (created) {
        domain = new Domain(def, new RunDir(runRoot.resolve(def.getUuid())), limits);
        byName.put(domain.name(), domain);
      } else {
        domain = existing;
        domain.setDef(def);
      }
    }
    publish(domain, DomainEvent.Type.DEFINED);
    return info(domain);
  }

  /** Removes a shut-off domain's definition, and its managed save if asked to. */
  public void undefine(Principal caller, String name, boolean removeManagedSave) {
    Domain domain = get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "undefine")) {
      if (domain.state().isActive()) {
        throw new CryoException(
                Reason.DOMAIN_STATE,
                "domain '" + name + "' is active; destroy or shut it down before undefining it")
            .with("domain", name);
      }
      Path save = savePath(name);
      if (Files.exists(save) && !removeManagedSave) {
        throw new CryoException(
                Reason.DOMAIN_STATE,
                "domain '"
                    + name
                    + "' has a managed save image; pass remove_managed_save to delete it too")
            .with("domain", name);
      }
      synchronized (this) {
        try {
          Files.deleteIfExists(save);
          AtomicFile.delete(definitionFile(name));
        } catch (IOException e) {
          throw new InternalException("could not remove the definition of '" + name + "'", e);
        }
        byName.remove(name);
      }
      deleteRunDir(domain.runDir());
    }
    publish(domain, DomainEvent.Type.UNDEFINED);
  }

  // ---- lookups -----------------------------------------------------------------------------

  /**
   * The domain called {@code name}, as {@code caller} sees it.
   *
   * @throws NotFoundException if there is none, or {@code caller} does not see it: another
   *     tenant's domain does not exist for this caller, so names do not leak
   */
  public synchronized Domain get(Principal caller, String name) {
    Domain domain = byName.get(name);
    if (domain == null || !caller.sees(name)) {
      throw new CryoException(Reason.DOMAIN_NOT_FOUND, "no domain named '" + name + "'")
          .with("domain", name);
    }
    return domain;
  }

  public DomainInfo info(Principal caller, String name) {
    return info(get(caller, name));
  }

  /** Domains in one of {@code states} (all when empty), sorted by name. */
  public List<DomainInfo> list(Principal caller, Set<DomainState> states) {
    List<Domain> all;
    synchronized (this) {
      all = new ArrayList<>(byName.values());
    }
    List<DomainInfo> out = new ArrayList<>();
    for (Domain d : all) {
      if (caller.sees(d.name()) && (states.isEmpty() || states.contains(d.state()))) {
        out.add(info(d));
      }
    }
    out.sort(Comparator.comparing(DomainInfo::name));
    return out;
  }

  /**
   * The job holding domain {@code name}, or null when it has none.
   *
   * @throws NotFoundException if there is no such domain
   */
  public JobInfo job(Principal caller, String name) {
    return get(caller, name).jobInfo();
  }

  /**
   * Aborts the job holding domain {@code name} (see {@link Domain#abortJob}).
   *
   * @throws FailedPreconditionException if it has no job or the job cannot be aborted
   */
  public JobInfo abortJob(Principal caller, String name) {
    return get(caller, name).abortJob();
  }

  /** The stored definition as XML. */
  public String xml(Principal caller, String name) {
    return DomainXml.format(get(caller, name).def());
  }

  /**
   * Where the managed save image of {@code name} lives (whether or not there is one).
   *
   * @throws NotFoundException if {@code caller} does not see the domain
   */
  public Path managedSavePath(Principal caller, String name) {
    return savePath(get(caller, name).name());
  }

  private Path savePath(String name) {
    return saveDir.resolve(name + ".save");
  }

  /** What {@code d}, a domain already looked up for its caller, looks like now. */
  public DomainInfo info(Domain d) {
    RunningQemu running = d.running();
    DomainDef def = d.def();
    long current = currentMemoryBytes(def, running);
    synchronized (d) {
      return new DomainInfo(d.name(), d.uuid(), d.state(), d.reason(), d.stateTime(),
          running == null ? 0 : running.process().pid(),
          running == null ? null : running.accelerator(),
          def.memoryBytes(), current, def.vcpus(), Files.exists(savePath(d.name())),
          running == null ? null : running.confinement());
    }
  }

  /**
   * The memory the guest has now, as {@code virsh dominfo}'s "Used memory": what its balloon
   * leaves it while QEMU runs, the definition's {@code <currentMemory>} otherwise.
   */
  private static long currentMemoryBytes(DomainDef def, RunningQemu running) {
    DevicesDef.Memballoon balloon = def.getDevices().getMemballoon();
    if (running == null) {
      return def.currentMemoryBytes();
    }
    if (balloon != null && "none".equals(balloon.getModel())) {
      return def.memoryBytes();
    }
    try {
      return running.monitor().queryBalloon();
    } catch (RuntimeException e) {
      // QEMU going away or not answering: the state reported next to it says so.
      log.debug("query-balloon of domain '{}' failed: {}", def.getName(), e.getMessage());
      return def.currentMemoryBytes();
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Boots a shut-off domain, running or paused. */
  public DomainInfo start(Principal caller, String name, boolean paused) {
    Domain domain = get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "start")) {
      requireInactive(domain, "start");
      RunningQemu running = launch(domain, QemuCommandLine.Incoming.NONE);
      try {
        QemuSpec spec = QemuSpecs.from(domain.def(), host, accelPolicy);
        // QEMU has no option for it: libvirt too unplugs the cable over QMP before the CPUs run.
        // (An incoming migration stream brings the link state along.)
        for (QemuSpec.Nic nic : spec.nics()) {
          if (!nic.linkUp()) {
            running.monitor().setLink(nic.deviceId(), false);
          }
        }
        // <currentMemory>: the balloon's target, set before the CPUs run as libvirt does; the
        // guest's driver inflates it when it loads. (A migration stream carries the balloon.)
        long currentBytes = domain.def().currentMemoryBytes();
        if (spec.memballoon() && currentBytes > 0 && currentBytes < domain.def().memoryBytes()) {
          running.monitor().balloon(currentBytes);
        }
        if (paused) {
          setState(domain, DomainState.PAUSED, StateReason.USER, DomainEvent.Type.STARTED);
        } else {
          running.monitor().cont();
          setState(domain, DomainState.RUNNING, StateReason.BOOTED, DomainEvent.Type.STARTED);
        }
      } catch (RuntimeException e) {
        abortLaunch(domain, running);
        throw e;
      }
      return info(domain);
    }
  }

  /**
   * Starts QEMU for {@code domain} with its CPUs stopped ({@code -S}) and attaches to it. The
   * caller holds the domain's job and decides what happens next (cont, incoming migration...). On
   * failure nothing is left: no process, no sockets.
   */
  public RunningQemu launch(Domain domain, QemuCommandLine.Incoming incoming) {
    // Again at start: a file may have been replaced by a link since the definition was checked.
    confineFiles(domain.def());
    QemuSpec spec = QemuSpecs.from(domain.def(), host, accelPolicy);
    Optional<QemuSpec.HostForward> taken = HostPorts.firstTaken(spec.nics());
    if (taken.isPresent()) {
      throw portInUse(domain, taken.get().hostPort());
    }
    for (QemuSpec.Disk disk : spec.disks()) {
      if (!disk.hasMedium()) {
        continue; // a cdrom's empty tray
      }
      if (disk.hostDevice() ? !ImageRoots.isBlockDevice(disk.source())
          : !Files.isRegularFile(disk.source())) {
        throw new FailedPreconditionException("disk " + disk.target() + " of domain '"
            + domain.name() + "': " + disk.source() + " does not exist or is not a "
            + (disk.hostDevice() ? "block device" : "file"));
      }
    }
    RunDir run = domain.runDir();
    QemuProcess process = null;
    QemuMonitor qmp = null;
    try {
      Files.createDirectories(run.path());
      confinement.prepareRunDir(run);
      SerialConsole.rotateLog(run);
      // Before QEMU runs: the server writes nothing in its run folder while QEMU can too.
      AtomicFile.write(run.path().resolve(ACCEL_FILE), spec.accelerator().qemuName());
      QemuSpec confined = confinement.stageBootFiles(run, spec);
      try {
        for (QemuSpec.Disk disk : spec.disks()) {
          if (!disk.hasMedium()) {
            continue;
          }
          if (disk.hostDevice()) {
            // The device itself, checked by confineFiles; a qcow2 on it is not read for backing.
            confinement.grant(run, disk.source());
            continue;
          }
          for (Path file : QemuConfinement.backingChain(disk.source())) {
            // A backing name inside a caller's image is a caller's path too.
            roots.confined(file.toString(), "disk " + disk.target() + " backing file");
            confinement.grant(run, file);
          }
        }
      } catch (RuntimeException e) {
        releaseConfinement(domain);
        throw e;
      } catch (QemuConfinement.NotReachableException e) {
        releaseConfinement(domain);
        throw new FailedPreconditionException("cannot start domain '" + domain.name() + "': "
            + e.getMessage(), e);
      }
      List<String> argv = new ArrayList<>(confinement.argvPrefix());
      argv.addAll(QemuCommandLine.build(host.qemuBinary(), confined, run, incoming));
      process = QemuProcess.start(argv, run, incoming == QemuCommandLine.Incoming.STDIN);
      QemuConfinement.Applied applied = confinement.place(run, domain.uuid(), process.pid(),
          spec.memoryKib() * 1024, spec.vcpus(), spec.accelerator());
      process.awaitQmpSocket(QMP_CONNECT_TIMEOUT);
      qmp = QemuMonitor.connect(run.qmpSocket(), QMP_CONNECT_TIMEOUT, domain.name());
      SerialConsole console = SerialConsole.connect(run);
      RunningQemu running = new RunningQemu(process, qmp, console, spec.accelerator(), applied);
      running.pausesOnPoweroff = spec.lifecycle().pauseOnPoweroff();
      attach(domain, running);
      setState(domain, DomainState.PAUSED, StateReason.STARTING_UP, null);
      return running;
    } catch (IOException e) {
      if (qmp != null) {
        qmp.close();
      }
      String detail = e.getMessage();
      if (process != null) {
        process.kill(Duration.ZERO);
        detail = process.logTail();
        process.close();
      }
      cleanRunDir(run);
      releaseConfinement(domain);
      domain.setState(DomainState.SHUTOFF, StateReason.FAILED);
      if (HostPorts.isForwardFailure(detail)) {
        // Taken between the check above and QEMU's bind: which one, only QEMU's log knows.
        throw portInUse(domain, HostPorts.firstTaken(spec.nics())
            .map(QemuSpec.HostForward::hostPort).orElse(0));
      }
      throw new InternalException("QEMU failed to start domain '" + domain.name() + "': "
          + detail, e);
    }
  }

  private static CryoException portInUse(Domain domain, int port) {
    String which = port == 0 ? "a host port" : "host port " + port;
    return new CryoException(Reason.HOST_PORT_IN_USE, "domain '" + domain.name() + "' forwards "
        + which + " (<portForward>), which another program holds on this host; free it or "
        + "forward another port (a guest moving between two servers on one host needs another "
        + "port on the target: restore it with a replacement XML)")
        .with("domain", domain.name()).with("port", Integer.toString(port));
  }

  /**
   * Checks that every host file the definition makes QEMU open (disks, kernel, initrd) lies in
   * an image folder and is a regular file or not there yet.
   *
   * @throws PermissionDeniedException naming the first file that does not
   */
  private void confineFiles(DomainDef def) {
    for (DiskDef disk : def.disks()) {
      if ("block".equals(disk.getType())) {
        roots.confinedDevice(disk.getSourceDev(), "disk " + disk.getTargetDev() + " source dev");
      } else if (disk.getSourceFile() != null) { // none: a cdrom's empty tray
        roots.confined(disk.getSourceFile(), "disk " + disk.getTargetDev() + " source");
      }
    }
    OsDef os = def.getOs();
    if (os != null && os.getKernel() != null) {
      roots.confined(os.getKernel(), "kernel");
    }
    if (os != null && os.getInitrd() != null) {
      roots.confined(os.getInitrd(), "initrd");
    }
  }

  /** The folders in which callers may name files. */
  public ImageRoots imageRoots() {
    return roots;
  }

  /** Kills a QEMU that {@link #launch} started but whose start did not complete. */
  public void abortLaunch(Domain domain, RunningQemu running) {
    running.destroyRequested = true;
    running.process().kill(Duration.ZERO);
    onExit(domain, running, StateReason.FAILED);
    awaitShutoff(domain);
  }

  /**
   * Stops the QEMU of a domain whose state has just been saved: the domain is shut off with
   * reason SAVED, as after {@code virsh save}. The caller holds the domain's job.
   */
  public void stopSaved(Domain domain, RunningQemu running) {
    running.destroyRequested = true;
    // Record SAVED first: the exit watcher, which would record DESTROYED, then finds it done.
    onExit(domain, running, StateReason.SAVED);
    running.process().kill(GRACEFUL_KILL);
  }

  /**
   * Inserts the raw ISO {@code source} into cdrom {@code target}, replacing its disc, or ejects
   * it ({@code source} null or empty), as {@code virsh change-media} does: on a running domain
   * through the tray (open, remove, insert, close), and in the stored definition, which a save,
   * a restore and the next start then use.
   *
   * @throws InvalidArgumentException if the domain has no such disk or it is not a cdrom
   * @throws PermissionDeniedException if {@code source} lies outside the image folders
   * @throws FailedPreconditionException if {@code source} is not an existing file
   */
  public DomainInfo changeMedia(Principal caller, String name, String target, String source) {
    Domain domain = get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "change-media")) {
      DomainDef def = domain.def().copy();
      DiskDef disk = def.disks().stream().filter(d -> d.getTargetDev().equals(target))
          .findFirst().orElseThrow(() -> new InvalidArgumentException("domain '" + name
              + "' has no disk '" + target + "'; name a cdrom by its target dev, e.g. sda"));
      if (!disk.isCdrom()) {
        throw new InvalidArgumentException("disk " + target + " of domain '" + name + "' is not "
            + "a cdrom; only a cdrom's disc can be changed");
      }
      String file = source == null || source.isEmpty() ? null : source;
      if (file != null) {
        if (!file.startsWith("/")) {
          throw new InvalidArgumentException("disk " + target + ": source '" + file
              + "' is not an absolute path");
        }
        Path real = roots.confined(file, "disk " + target + " source");
        if (!Files.isRegularFile(real)) {
          throw new FailedPreconditionException("disk " + target + " of domain '" + name
              + "': " + file + " does not exist or is not a file; give an ISO image");
        }
      }
      RunningQemu running = domain.running();
      if (running != null) {
        QemuSpec.Disk live = QemuSpecs.from(domain.def(), host, accelPolicy).disks().stream()
            .filter(d -> d.target().equals(target)).findFirst().orElseThrow();
        try {
          swapMedium(domain, running.monitor(), live, file);
        } catch (RuntimeException e) {
          // The old disc may be out already: the stored XML says what the drive now holds.
          try {
            if (running.monitor().queryBlock().stream().anyMatch(
                b -> live.deviceId().equals(b.qdev()) && b.inserted() == null)) {
              disk.setSourceFile(null);
              define(caller, def);
            }
          } catch (RuntimeException cleanup) {
            e.addSuppressed(cleanup);
          }
          throw e;
        }
      }
      disk.setSourceFile(file);
      define(caller, def);
      return info(domain);
    }
  }

  /**
   * libvirt's media change on a running guest: the tray opens (forced, as a guest that mounted
   * the disc locks it), the old medium and its nodes go, the new one's nodes, named as a start
   * would name them, go in, and the tray closes.
   */
  private void swapMedium(Domain domain, QemuMonitor qmp, QemuSpec.Disk disk, String file) {
    String id = disk.deviceId();
    if (file != null) {
      try {
        confinement.grant(domain.runDir(), Path.of(file));
      } catch (IOException e) {
        throw new FailedPreconditionException("disk " + disk.target() + " of domain '"
            + domain.name() + "': QEMU cannot open " + file + ": " + e.getMessage(), e);
      }
    }
    qmp.blockdevOpenTray(id);
    if (disk.hasMedium()) {
      qmp.blockdevRemoveMedium(id);
      qmp.blockdevDel(disk.formatNode());
      qmp.blockdevDel(disk.storageNode());
    }
    if (file != null) {
      qmp.blockdevAdd(new BlockdevOptions.File(disk.storageNode(), Path.of(file), true, true));
      qmp.blockdevAdd(new BlockdevOptions.Raw(disk.formatNode(),
          new BlockdevOptions.NodeRef(disk.storageNode()), true));
      qmp.blockdevInsertMedium(id, disk.formatNode());
    }
    qmp.blockdevCloseTray(id);
  }

  /** Pauses the CPUs of a running domain. */
  public DomainInfo suspend(Principal caller, String name) {
    Domain domain = get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "suspend")) {
      RunningQemu running = requireActive(domain, "suspend");
      if (domain.state() == DomainState.PAUSED) {
        throw new CryoException(Reason.DOMAIN_STATE, "domain '" + name + "' is already paused")
            .with("domain", name);
      }
      running.monitor().stop();
      setState(domain, DomainState.PAUSED, StateReason.USER, DomainEvent.Type.SUSPENDED);
      return info(domain);
    }
  }

  /** Resumes a paused domain. */
  public DomainInfo resume(Principal caller, String name) {
    Domain domain = get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "resume")) {
      RunningQemu running = requireActive(domain, "resume");
      if (domain.state() != DomainState.PAUSED) {
        throw new CryoException(Reason.DOMAIN_STATE, "domain '" + name + "' is not paused")
            .with("domain", name);
      }
      running.monitor().cont();
      setState(domain, DomainState.RUNNING, StateReason.UNPAUSED, DomainEvent.Type.RESUMED);
      return info(domain);
    }
  }

  /**
   * Presses the guest's ACPI power button and waits up to {@code timeout} (default 60 s) for it to
   * power off.
   *
   * @throws DeadlineExceededException if the guest is still running after {@code timeout}
   */
  public DomainInfo shutdown(Principal caller, String name, Duration timeout) {
    Domain domain = get(caller, name);
    RunningQemu running;
    try (Domain.Job job = domain.beginJob(caller, "shutdown")) {
      running = requireActive(domain, "shut down");
      running.powerdownRequested = true;
      running.monitor().systemPowerdown();
      if (domain.state() == DomainState.RUNNING) {
        setState(domain, DomainState.SHUTDOWN, StateReason.USER, null);
      }
    }
    Duration wait = timeout == null || timeout.isZero() || timeout.isNegative()
        ? DEFAULT_SHUTDOWN_TIMEOUT : timeout;
    if (!running.process().awaitExit(wait)) {
      synchronized (domain) {
        if (domain.state() == DomainState.SHUTDOWN) {
          setState(domain, DomainState.RUNNING, StateReason.UNPAUSED, null);
        }
      }
      throw new DeadlineExceededException("domain '" + name + "' did not power off within "
          + wait.toSeconds() + " s; the guest may ignore ACPI. It is still running: use "
          + "DestroyDomain to stop it at once");
    }
    running.process().onExit().join();
    awaitShutoff(domain);
    return info(domain);
  }

  /** Stops the domain's QEMU at once (SIGKILL), or after SIGTERM and a grace period. */
  public DomainInfo destroy(Principal caller, String name, boolean graceful) {
    Domain domain = get(caller, name);
    RunningQemu running = domain.running();
    if (running == null) {
      throw new CryoException(Reason.DOMAIN_STATE, "domain '" + name + "' is not running")
          .with("domain", name);
    }
    // No job: destroy must work while another job (a stuck shutdown, a save) holds the domain.
    running.destroyRequested = true;
    running.process().kill(graceful ? GRACEFUL_KILL : Duration.ZERO);
    onExit(domain, running, StateReason.DESTROYED);
    awaitShutoff(domain);
    return info(domain);
  }

  private void awaitShutoff(Domain domain) {
    // onExit runs on the process-exit thread; wait for it to have recorded the new state.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    synchronized (domain) {
      while (domain.state().isActive() && System.nanoTime() < deadline) {
        try {
          domain.wait(100);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  // ---- events ------------------------------------------------------------------------------

  /**
   * Calls {@code listener} for every lifecycle event of the domain {@code name} (every domain
   * {@code caller} sees if null), on the thread that caused it: it must not block. Close the
   * result to stop. A name need not be defined yet; events of a domain {@code caller} does not
   * see are never delivered.
   *
   * @throws NotFoundException if {@code name} is one {@code caller} may not see, defined or not
   *     (so the answer says nothing about other tenants' domains)
   */
  public AutoCloseable watch(Principal caller, String name, Consumer<DomainEvent> listener) {
    if (name != null && !caller.sees(name)) {
      throw new CryoException(Reason.DOMAIN_NOT_FOUND, "no domain named '" + name + "'")
          .with("domain", name);
    }
    Listener l = new Listener(name, event -> {
      if (caller.sees(event.name())) {
        listener.accept(event);
      }
    });
    listeners.add(l);
    return () -> listeners.remove(l);
  }

  private record Listener(String name, Consumer<DomainEvent> consumer) {}

  /** Records a new state and, if {@code type} is not null, publishes it as an event. */
  public void setState(Domain domain, DomainState state, StateReason reason,
      DomainEvent.Type type) {
    boolean changed;
    synchronized (domain) {
      changed = domain.setState(state, reason);
      domain.notifyAll();
    }
    if (changed && type != null) {
      publish(domain, type);
    }
  }

  private void publish(Domain domain, DomainEvent.Type type) {
    DomainEvent event;
    synchronized (domain) {
      event = new DomainEvent(domain.name(), type, domain.state(), domain.reason(),
          domain.stateTime());
    }
    for (Listener l : listeners) {
      if (l.name() == null || l.name().equals(domain.name())) {
        try {
          l.consumer().accept(event);
        } catch (RuntimeException e) {
          log.warn("event listener failed", e);
        }
      }
    }
  }

  // ---- QEMU wiring -------------------------------------------------------------------------

  private void attach(Domain domain, RunningQemu running) {
    domain.setRunning(running);
    running.monitor().addEventListener(event -> onQemuEvent(domain, running, event));
    running.process().onExit().thenRun(() -> onExit(domain, running, null));
  }

  private void onQemuEvent(Domain domain, RunningQemu running, QemuEvent event) {
    if (domain.running() != running) {
      return;
    }
    if (event instanceof QemuEvent.Stop) {
      if (domain.state() == DomainState.RUNNING) {
        setState(domain, DomainState.PAUSED, StateReason.USER, DomainEvent.Type.SUSPENDED);
      }
    } else if (event instanceof QemuEvent.Resume) {
      if (domain.state() == DomainState.PAUSED) {
        setState(domain, DomainState.RUNNING, StateReason.UNPAUSED, DomainEvent.Type.RESUMED);
      }
    } else if (event instanceof QemuEvent.Shutdown shutdown) {
      boolean restart = running.pausesOnPoweroff && shutdown.guest()
          && !"guest-reset".equals(shutdown.reason()) && !running.powerdownRequested;
      if (restart) {
        // on_poweroff restart: QEMU has stopped instead of exiting; reset the machine in place,
        // as libvirt's fake reboot does. Off the event thread: QMP replies arrive on it.
        lifecycle.execute(() -> restartInPlace(domain, running));
        return;
      }
      running.shutdownSeen = true;
      setState(domain, DomainState.SHUTDOWN, StateReason.USER, DomainEvent.Type.SHUTDOWN);
      if (running.pausesOnPoweroff) {
        lifecycle.execute(() -> running.process().kill(GRACEFUL_KILL));
      }
    } else if (event instanceof QemuEvent.BlockIoError) {
      if (domain.state() == DomainState.RUNNING) {
        setState(domain, DomainState.PAUSED, StateReason.IO_ERROR, DomainEvent.Type.SUSPENDED);
      }
    }
  }

  /** Resets a guest that powered off and runs it again, in the same QEMU. */
  private void restartInPlace(Domain domain, RunningQemu running) {
    try {
      running.monitor().systemReset();
      running.monitor().cont();
      log.info("domain '{}' powered off and was restarted (on_poweroff restart)", domain.name());
    } catch (CryoException e) {
      if (domain.running() == running) {
        log.warn("could not restart domain '{}' after it powered off; stopping it: {}",
            domain.name(), e.getMessage());
        running.shutdownSeen = true;
        running.process().kill(GRACEFUL_KILL);
      }
    }
  }

  /**
   * Records that {@code running}'s QEMU has exited. Called by the process-exit watcher and by
   * whoever killed it; the first call wins.
   *
   * @param reason the reason to record, or null to derive it from how QEMU went away
   */
  void onExit(Domain domain, RunningQemu running, StateReason reason) {
    synchronized (domain) {
      if (domain.running() != running) {
        return;
      }
      domain.setRunning(null);
    }
    running.close();
    cleanRunDir(domain.runDir());
    releaseConfinement(domain);
    StateReason why = reason != null ? reason
        : running.destroyRequested ? StateReason.DESTROYED
        : running.shutdownSeen ? StateReason.SHUTDOWN
        : StateReason.CRASHED;
    if (why == StateReason.CRASHED) {
      log.warn("QEMU of domain '{}' exited unexpectedly: {}", domain.name(),
          running.process().logTail());
    }
    setState(domain, DomainState.SHUTOFF, why, DomainEvent.Type.STOPPED);
  }

  private static void requireInactive(Domain domain, String what) {
    if (domain.state().isActive()) {
      throw new CryoException(
              Reason.DOMAIN_STATE,
              "cannot "
                  + what
                  + " domain '"
                  + domain.name()
                  + "': it is already "
                  + domain.state().name().toLowerCase())
          .with("domain", domain.name());
    }
  }

  /** The domain's live QEMU, or FAILED_PRECONDITION naming {@code what} could not be done. */
  public static RunningQemu requireActive(Domain domain, String what) {
    RunningQemu running = domain.running();
    if (running == null) {
      throw new CryoException(
              Reason.DOMAIN_STATE,
              "cannot " + what + " domain '" + domain.name() + "': it is not running")
          .with("domain", domain.name());
    }
    return running;
  }

  private static StateReason pausedReason(String qmpStatus) {
    return switch (qmpStatus) {
      case "io-error" -> StateReason.IO_ERROR;
      case "inmigrate" -> StateReason.MIGRATION;
      case "postmigrate", "finish-migrate" -> StateReason.SAVED;
      case "prelaunch" -> StateReason.STARTING_UP;
      case "save-vm", "restore-vm" -> StateReason.SNAPSHOT;
      default -> StateReason.USER;
    };
  }

  /** Gives the files of an exited QEMU back to their owners and removes its cgroup. */
  private void releaseConfinement(Domain domain) {
    confinement.release(domain.runDir());
    confinement.removeCgroup(domain.uuid());
  }

  /** How QEMU processes are confined; snapshot and backup code grant QEMU their new files. */
  public QemuConfinement confinement() {
    return confinement;
  }

  private static Optional<String> readAccelFile(RunDir run) {
    try {
      return Optional.of(Files.readString(run.path().resolve(ACCEL_FILE)));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static void cleanRunDir(RunDir run) {
    try {
      Files.deleteIfExists(run.qmpSocket());
      Files.deleteIfExists(run.consoleSocket());
      Files.deleteIfExists(run.pidFile());
      Files.deleteIfExists(run.path().resolve(ACCEL_FILE));
      // Copies of kernel and initrd for an unprivileged QEMU (QemuConfinement.stageBootFiles).
      Files.deleteIfExists(run.path().resolve("kernel"));
      Files.deleteIfExists(run.path().resolve("initrd"));
    } catch (IOException e) {
      log.warn("could not clean {}", run.path(), e);
    }
  }

  private static void deleteRunDir(RunDir run) {
    if (!Files.isDirectory(run.path())) {
      return;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(run.path())) {
      for (Path f : files) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(run.path());
    } catch (IOException e) {
      log.warn("could not remove {}", run.path(), e);
    }
  }

  private Path definitionFile(String name) {
    return domainsDir.resolve(name + ".xml");
  }

  /**
   * The folder for per-domain metadata other than the definition ({@code STATE/domains/NAME/}),
   * e.g. {@code snapshots/}. Not created here.
   */
  /** The server's state folder: private to the server, never named to callers. */
  public Path stateDir() {
    return stateDir;
  }

  public Path metadataDir(String name) {
    return domainsDir.resolve(name);
  }

  /** The QEMU binary this server runs guests with. */
  public Path qemuBinary() {
    return host.qemuBinary();
  }

  /** All domains, for jobs that sweep them. */
  public synchronized Collection<Domain> all() {
    return List.copyOf(byName.values());
  }

  /**
   * Releases the server's connections to every QEMU. The guests keep running; the next server
   * re-attaches to them.
   */
  @Override
  public void close() {
    lifecycle.shutdownNow();
    for (Domain domain : all()) {
      RunningQemu running;
      synchronized (domain) {
        running = domain.running();
        domain.setRunning(null);
      }
      if (running != null) {
        running.close();
      }
    }
  }
}
