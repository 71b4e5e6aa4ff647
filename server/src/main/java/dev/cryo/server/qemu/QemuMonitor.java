package dev.cryo.server.qemu;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InternalException;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The monitor of one guest's QEMU: one typed method per QMP command Cryo uses, with records for
 * arguments, results and {@linkplain QemuEvent events}. Built on a {@link QmpConnection}; the JSON
 * lives in {@link QmpJson} (libvirt's split of {@code qemu_monitor.c} from {@code
 * qemu_monitor_json.c}).
 *
 * <h2>Errors</h2>
 *
 * <p>Every method translates a QMP failure in one place ({@link #failure}) into Cryo's errors,
 * unchecked, with messages that name the domain and the command:
 *
 * <ul>
 *   <li>QEMU answered with an error, or a job it ran failed: {@link QemuRefusedException}
 *       (FAILED_PRECONDITION), whatever QEMU's error class. Cryo names the nodes, jobs and
 *       descriptors it passes, so even {@code DeviceNotFound} means "QEMU's state is not what the
 *       domain's is", never "the caller named something missing"; {@code CommandNotFound} and
 *       {@code KVMMissingCap} say the host's QEMU or KVM must change.
 *   <li>QEMU went away (exited, killed, socket failed): {@link QemuGoneException}
 *       (FAILED_PRECONDITION; why not UNAVAILABLE is on that class).
 *   <li>No answer in time: {@link QemuTimeoutException} (DEADLINE_EXCEEDED).
 *   <li>The calling thread was interrupted: {@link CancelledException}, interrupt flag kept.
 * </ul>
 *
 * <p>Threads: as {@link QmpConnection}; this class is thread-safe.
 */
public final class QemuMonitor implements AutoCloseable {
  /**
   * How long a command may take to be answered. The longest any caller used before this class
   * existed (block-layer transactions on a loaded host); most commands answer in milliseconds, so
   * it only matters when QEMU hangs.
   */
  static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

  private final QmpConnection qmp;
  private final String guest;
  private final Duration commandTimeout;

  /** For tests, which cannot wait {@link #COMMAND_TIMEOUT} for a command QEMU never answers. */
  QemuMonitor(QmpConnection qmp, String guest, Duration commandTimeout) {
    this.qmp = Objects.requireNonNull(qmp, "qmp");
    this.guest = Objects.requireNonNull(guest, "guest");
    this.commandTimeout = Objects.requireNonNull(commandTimeout, "commandTimeout");
  }

  /**
   * Connects to a QEMU's QMP socket, retrying until QEMU has created it.
   *
   * @param socket the QMP socket ({@code -qmp unix:PATH,server=on,wait=off})
   * @param timeout how long to wait for the socket and the handshake
   * @param guest the domain's name, for messages
   * @throws IOException if QEMU did not accept or did not speak QMP in time: QEMU failed to
   *     start, which the launcher reports with QEMU's own log
   */
  public static QemuMonitor connect(Path socket, Duration timeout, String guest)
      throws IOException {
    return new QemuMonitor(QmpConnection.connect(socket, timeout), guest, COMMAND_TIMEOUT);
  }

  // ---- results ---------------------------------------------------------------------------------

  /**
   * {@code query-status}.
   *
   * @param status QEMU's {@code RunState}, e.g. {@code "running"}, {@code "paused"}, {@code
   *     "inmigrate"}
   */
  public record RunState(String status, boolean running) {}

  /** One migration capability for {@link #migrateSetCapabilities}, e.g. {@code events}. */
  public record MigrationCapability(String capability, boolean state) {}

  /**
   * Migration parameters for {@link #migrateSetParameters}; a null member is left unchanged.
   *
   * @param maxBandwidth bytes per second
   */
  public record MigrationParameters(Long maxBandwidth) {}

  /**
   * {@code query-migrate}.
   *
   * @param status QEMU's {@code MigrationStatus}; {@code "none"} before any migration
   * @param downtimeMillis how long the guest was stopped, once completed; null before
   * @param errorDesc why it failed; null unless it did
   */
  public record MigrationInfo(String status, Long downtimeMillis, String errorDesc) {}

  /**
   * One guest block device from {@code query-block}.
   *
   * @param qdev the device's QOM path, e.g. {@code /machine/peripheral/virtio-vda/virtio-backend};
   *     null for a device without one
   * @param inserted the medium's top node; null when empty
   */
  public record BlockInfo(String device, String qdev, BlockDeviceInfo inserted) {}

  /**
   * A block node ({@code BlockDeviceInfo}), from {@code query-named-block-nodes} or as {@link
   * BlockInfo#inserted()}.
   *
   * @param nodeName empty for a node QEMU reports without a name
   * @param file the file name QEMU opened the node with
   * @param drv the driver, e.g. {@code "qcow2"} or {@code "file"}
   * @param image the image and (not from {@code query-named-block-nodes}) its backing chain
   */
  public record BlockDeviceInfo(String nodeName, String file, String drv, ImageInfo image,
      List<DirtyBitmap> dirtyBitmaps) {
    public BlockDeviceInfo {
      dirtyBitmaps = List.copyOf(dirtyBitmaps);
    }

    /** The files of the chain from this node down, top first. */
    public List<Path> chain() {
      List<Path> chain = new ArrayList<>();
      for (ImageInfo i = image; i != null; i = i.backingImage()) {
        chain.add(Path.of(i.filename()));
      }
      return chain;
    }
  }

  /**
   * An image as QEMU sees it ({@code ImageInfo}).
   *
   * @param virtualSize the guest-visible size, bytes
   * @param backingImage the next layer down; null at the bottom or when not reported
   */
  public record ImageInfo(String filename, String format, long virtualSize,
      ImageInfo backingImage) {}

  /**
   * A dirty bitmap ({@code BlockDirtyInfo}).
   *
   * @param name null for an anonymous bitmap, e.g. the copy bitmap of a running backup job
   * @param count dirty bytes
   * @param granularity bytes per bit
   */
  public record DirtyBitmap(String name, long count, long granularity, boolean recording,
      boolean busy, boolean persistent, boolean inconsistent) {}

  /** A running block job ({@code query-block-jobs}); {@code len} and {@code offset} in bytes. */
  public record BlockJobInfo(String type, String device, long len, long offset, String status,
      String error) {}

  /**
   * A job ({@code query-jobs}).
   *
   * @param status QEMU's {@code JobStatus}, e.g. {@code "running"}, {@code "concluded"}
   * @param error why it failed; null unless it did
   */
  public record JobInfo(String id, String type, String status, long currentProgress,
      long totalProgress, String error) {}

  /**
   * One CPU model from {@code query-cpu-definitions}.
   *
   * @param name the name {@code -cpu} takes, e.g. {@code Westmere} or {@code qemu64}
   */
  public record CpuDefinition(String name) {}

  // ---- run state -------------------------------------------------------------------------------

  /** {@code query-status}. */
  public RunState queryStatus() {
    return QmpJson.runState(call("query-status", null));
  }

  /** {@code stop}: pauses the guest's CPUs. */
  public void stop() {
    call("stop", null);
  }

  /** {@code cont}: runs the guest's CPUs. */
  public void cont() {
    call("cont", null);
  }

  /** {@code system_powerdown}: presses the guest's ACPI power button. */
  public void systemPowerdown() {
    call("system_powerdown", null);
  }

  /** {@code system_reset}: resets the machine, as the reset button does; the guest boots again. */
  public void systemReset() {
    call("system_reset", null);
  }

  /** {@code set_link}: plugs or unplugs a network card's cable, by its QOM id. */
  public void setLink(String deviceId, boolean up) {
    call("set_link", QmpJson.object("name", deviceId, "up", up));
  }

  // ---- CPUs and memory ------------------------------------------------------------------------

  /** {@code query-cpu-definitions}: the CPU models this QEMU knows, for its accelerator. */
  public List<CpuDefinition> queryCpuDefinitions() {
    return QmpJson.cpuDefinitions(call("query-cpu-definitions", null));
  }

  /**
   * {@code balloon}: asks the guest's balloon driver to leave it {@code bytes} of RAM. The guest
   * gets there on its own time (and never without a driver); {@link #queryBalloon} says where it
   * is.
   */
  public void balloon(long bytes) {
    call("balloon", QmpJson.object("value", bytes));
  }

  /** {@code query-balloon}: the guest's RAM in bytes as its balloon leaves it ("actual"). */
  public long queryBalloon() {
    return QmpJson.balloonActual(call("query-balloon", null));
  }

  // ---- migration -------------------------------------------------------------------------------

  /** {@code migrate-set-capabilities}. */
  public void migrateSetCapabilities(List<MigrationCapability> capabilities) {
    call("migrate-set-capabilities", QmpJson.capabilities(capabilities));
  }

  /** {@code migrate-set-parameters}. */
  public void migrateSetParameters(MigrationParameters parameters) {
    call("migrate-set-parameters", QmpJson.parameters(parameters));
  }

  /** {@code migrate}: starts an outgoing migration; it ends with a {@link QemuEvent.Migration}. */
  public void migrate(String uri) {
    call("migrate", QmpJson.object("uri", uri));
  }

  /** {@code migrate-incoming}: loads a stream into a QEMU started {@code -incoming defer}. */
  public void migrateIncoming(String uri) {
    call("migrate-incoming", QmpJson.object("uri", uri));
  }

  /** {@code migrate_cancel}. */
  public void migrateCancel() {
    call("migrate_cancel", null);
  }

  /** {@code query-migrate}. */
  public MigrationInfo queryMigrate() {
    return QmpJson.migrationInfo(call("query-migrate", null));
  }

  // ---- file descriptors ------------------------------------------------------------------------

  /**
   * {@code getfd}: hands QEMU its own duplicate of {@code fd} under {@code fdName}, for a later
   * {@code fd:NAME} URI. The caller still owns {@code fd}.
   */
  public void getfd(String fdName, FileDescriptor fd) {
    try {
      qmp.sendFileDescriptor(fdName, fd);
    } catch (IOException | QmpException e) {
      throw failure("getfd", e);
    }
  }

  /** {@code closefd}: closes what {@link #getfd} handed over. */
  public void closefd(String fdName) {
    call("closefd", QmpJson.object("fdname", fdName));
  }

  // ---- block layer -----------------------------------------------------------------------------

  /** {@code blockdev-add}. */
  public void blockdevAdd(BlockdevOptions options) {
    call("blockdev-add", QmpJson.blockdev(options));
  }

  /** {@code blockdev-del}: closes a node {@link #blockdevAdd} (or {@code -blockdev}) opened. */
  public void blockdevDel(String nodeName) {
    call("blockdev-del", QmpJson.object("node-name", nodeName));
  }

  /**
   * {@code blockdev-open-tray} with {@code force}: opens a removable drive's tray, by the guest
   * device's QOM id, even when the guest locked it (as libvirt's change-media does).
   */
  public void blockdevOpenTray(String deviceId) {
    call("blockdev-open-tray", QmpJson.object("id", deviceId, "force", true));
  }

  /** {@code blockdev-remove-medium}: takes the medium out of an open tray. */
  public void blockdevRemoveMedium(String deviceId) {
    call("blockdev-remove-medium", QmpJson.object("id", deviceId));
  }

  /** {@code blockdev-insert-medium}: puts node {@code nodeName} into an open, empty tray. */
  public void blockdevInsertMedium(String deviceId, String nodeName) {
    call("blockdev-insert-medium", QmpJson.object("id", deviceId, "node-name", nodeName));
  }

  /** {@code blockdev-close-tray}: closes the tray; the guest sees a medium change. */
  public void blockdevCloseTray(String deviceId) {
    call("blockdev-close-tray", QmpJson.object("id", deviceId));
  }

  /** {@code transaction}: all actions at one instant, or none. An empty list sends nothing. */
  public void transaction(List<TransactionAction> actions) {
    if (actions.isEmpty()) {
      return;
    }
    call("transaction", QmpJson.transaction(actions));
  }

  /** {@code query-block}: the guest's block devices. */
  public List<BlockInfo> queryBlock() {
    return QmpJson.blockInfos(call("query-block", null));
  }

  /**
   * {@code query-named-block-nodes} with {@code flat}: every node once, without the backing
   * chains nested in each (which nothing reads).
   */
  public List<BlockDeviceInfo> queryNamedBlockNodes() {
    return QmpJson.blockDevices(call("query-named-block-nodes", QmpJson.object("flat", true)));
  }

  /** {@code query-block-jobs}. */
  public List<BlockJobInfo> queryBlockJobs() {
    return QmpJson.blockJobs(call("query-block-jobs", null));
  }

  // ---- jobs ------------------------------------------------------------------------------------

  /** {@code query-jobs}. */
  public List<JobInfo> queryJobs() {
    return QmpJson.jobs(call("query-jobs", null));
  }

  /** {@code job-dismiss}: forgets a concluded job. */
  public void jobDismiss(String id) {
    call("job-dismiss", QmpJson.object("id", id));
  }

  /** {@code job-cancel}. */
  public void jobCancel(String id) {
    call("job-cancel", QmpJson.object("id", id));
  }

  /** {@code job-complete}: tells a ready job (an active commit) to finish. */
  public void jobComplete(String id) {
    call("job-complete", QmpJson.object("id", id));
  }

  /** Starts {@code job} ({@code snapshot-save}, {@code block-commit}...) and returns. */
  public void startJob(QemuJob job) {
    call(job.command(), QmpJson.job(job));
  }

  /**
   * Runs {@code job} to its end: starts it, waits for it to conclude, reads its error from {@code
   * query-jobs} and dismisses it. A job that reaches {@code ready} (an active {@code
   * block-commit}, which would otherwise mirror guest writes forever) is told to finish with
   * {@code job-complete}, which pivots the device to the base image.
   *
   * @throws QemuRefusedException if QEMU refused to start it, or it failed
   * @throws QemuTimeoutException if it did not end within {@code timeout}
   */
  public void runJob(QemuJob job, Duration timeout) {
    String id = job.jobId();
    QmpConnection.Subscription ready = qmp.addEventListener(e -> {
      if (QmpJson.event(e) instanceof QemuEvent.JobStatusChange c && id.equals(c.id())
          && "ready".equals(c.status())) {
        // Not a blocking call: this runs on the event thread, and later events wait for it.
        qmp.executeAsync("job-complete", QmpJson.object("id", id));
      }
    });
    try {
      CompletableFuture<QemuEvent.JobStatusChange> concluded = nextEvent(
          QemuEvent.JobStatusChange.class,
          c -> id.equals(c.id()) && "concluded".equals(c.status()));
      try {
        startJob(job);
      } catch (RuntimeException e) {
        concluded.cancel(false);
        throw e;
      }
      if (await(concluded, timeout).isEmpty()) {
        concluded.cancel(false);
        throw new QemuTimeoutException("the QEMU of domain '" + guest + "' did not finish "
            + job.command() + " within " + timeout.toSeconds() + " s; it may still be running",
            null);
      }
    } finally {
      ready.close();
    }
    String error = null;
    for (JobInfo j : queryJobs()) {
      if (id.equals(j.id()) && j.error() != null) {
        error = j.error();
      }
    }
    jobDismiss(id);
    if (error != null) {
      throw refused(job.command(), QemuRefusedException.ErrorClass.JOB_FAILED, error, null);
    }
  }

  // ---- events ----------------------------------------------------------------------------------

  /** Removes an event listener; {@link #close()} is idempotent and throws nothing. */
  @FunctionalInterface
  public interface Subscription extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Calls {@code listener} for every event, in QEMU's order, on the monitor's event thread (see
   * {@link QmpConnection}); exceptions it throws are logged and ignored.
   */
  public Subscription addEventListener(Consumer<QemuEvent> listener) {
    Objects.requireNonNull(listener, "listener");
    QmpConnection.Subscription s = qmp.addEventListener(e -> listener.accept(QmpJson.event(e)));
    return s::close;
  }

  /**
   * The next event of {@code type} that matches {@code filter} (null: any). Register before the
   * command that causes it: QEMU may send the event before the command's reply. The future fails
   * with {@link QemuGoneException} if QEMU goes away first; cancelling it removes the
   * registration. Wait for it with {@link #await}.
   */
  public <E extends QemuEvent> CompletableFuture<E> nextEvent(Class<E> type,
      Predicate<? super E> filter) {
    CompletableFuture<QmpEvent> raw = qmp.nextEvent(null, e -> {
      QemuEvent event = QmpJson.event(e);
      return type.isInstance(event) && (filter == null || filter.test(type.cast(event)));
    });
    CompletableFuture<E> typed = new CompletableFuture<>();
    raw.whenComplete((e, t) -> {
      if (t == null) {
        typed.complete(type.cast(QmpJson.event(e)));
      } else {
        typed.completeExceptionally(failure("the wait for its " + type.getSimpleName() + " event",
            t));
      }
    });
    typed.whenComplete((e, t) -> raw.cancel(false)); // a no-op once raw is done
    return typed;
  }

  /**
   * Waits up to {@code timeout} for {@code future} (usually from {@link #nextEvent}).
   *
   * @return its value; empty if it did not complete in time (it is left running)
   * @throws QemuGoneException if QEMU went away first
   * @throws CancelledException if this thread was interrupted (the flag is kept)
   */
  public <T> Optional<T> await(CompletableFuture<T> future, Duration timeout) {
    try {
      return Optional.of(future.get(timeout.toNanos(), TimeUnit.NANOSECONDS));
    } catch (TimeoutException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancelledException("interrupted while waiting for the QEMU of domain '" + guest
          + "'", e);
    } catch (ExecutionException e) {
      throw failure("the wait for an event", e.getCause());
    }
  }

  /** Whether the connection to QEMU is still open. */
  public boolean isOpen() {
    return qmp.isOpen();
  }

  /** Closes the connection (not QEMU). Idempotent. */
  @Override
  public void close() {
    qmp.close();
  }

  // ---- the one translation ---------------------------------------------------------------------

  private JsonElement call(String command, JsonObject arguments) {
    try {
      return qmp.execute(command, arguments, commandTimeout);
    } catch (IOException | QmpException e) {
      throw failure(command, e);
    }
  }

  /** QMP failures as Cryo's errors (see the class comment); the only place that decides. */
  private RuntimeException failure(String command, Throwable t) {
    if (t instanceof CompletionException || t instanceof ExecutionException) {
      t = t.getCause() != null ? t.getCause() : t;
    }
    if (t instanceof CryoException c) {
      return c;
    }
    if (t instanceof QmpException q) {
      return refused(q.command(), QemuRefusedException.ErrorClass.of(q.errorClass()),
          q.description(), q);
    }
    if (t instanceof QmpTimeoutException e) {
      return new QemuTimeoutException("the QEMU of domain '" + guest + "' did not answer "
          + command + " within " + e.timeout().toSeconds() + " s; it may still carry it out: "
          + "check the domain's state before retrying", e);
    }
    if (t instanceof InterruptedIOException e) {
      Thread.currentThread().interrupt();
      return new CancelledException("interrupted while waiting for the QEMU of domain '"
          + guest + "' (" + command + ")", e);
    }
    if (t instanceof IOException e) {
      // QmpConnectionClosedException, or a socket failure that ended the connection.
      return new QemuGoneException("the QEMU of domain '" + guest + "' went away (it exited or "
          + "its monitor connection closed) during " + command + "; the domain is no longer "
          + "running: check its state and start it again", e);
    }
    if (t instanceof RuntimeException r) {
      return r;
    }
    return new InternalException("QMP " + command + " failed: " + t, t);
  }

  private QemuRefusedException refused(String command, QemuRefusedException.ErrorClass errorClass,
      String description, Throwable cause) {
    String message = switch (errorClass) {
      case COMMAND_NOT_FOUND -> "the QEMU of domain '" + guest + "' has no command " + command
          + " (" + description + "); this needs a newer QEMU on the host";
      case KVM_MISSING_CAP -> "the QEMU of domain '" + guest + "' cannot run " + command
          + ": the host's KVM lacks a capability it needs (" + description + ")";
      case JOB_FAILED -> "the QEMU of domain '" + guest + "' could not complete " + command + ": "
          + description;
      default -> "the QEMU of domain '" + guest + "' refused " + command + ": " + description;
    };
    return new QemuRefusedException(message, command, errorClass, description, cause);
  }
}
