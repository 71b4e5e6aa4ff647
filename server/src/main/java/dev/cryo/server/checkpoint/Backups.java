package dev.cryo.server.checkpoint;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.AbortedException;
import dev.cryo.server.error.AlreadyExistsException;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.BlockdevOptions;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.TransactionAction;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Full and incremental backups of running domains, pushed into qcow2 files on the server or
 * streamed to the client as extents. One backup per domain at a time: a backup holds the domain's
 * job from start to end.
 *
 * <p><b>How a consistent view is taken while the guest runs.</b> Both kinds start the same way: one
 * QMP {@code transaction} holds a {@code blockdev-backup} per disk (sync {@code full}, or sync
 * {@code bitmap} with the checkpoint's bitmap and {@code bitmap-mode: never}, so the checkpoint's
 * bitmap keeps every bit) and, when asked, the {@code block-dirty-bitmap-add}s of a new checkpoint.
 * QEMU's backup job is copy-before-write: a guest write to a cluster not yet copied first copies
 * the old data to the target, so the target ends up holding exactly the disk at the transaction's
 * instant, and the new checkpoint starts at that same instant. A push backup's target is the
 * caller's qcow2 file. A streamed backup's target is a temporary qcow2 file in the domain's run
 * folder; once QEMU's job is done the server reads its allocation map ({@code qemu-img map}):
 * allocated data clusters are sent with their bytes (read straight from the qcow2 file at the
 * host offsets the map gives; the file is never compressed or encrypted), zero clusters as zero
 * extents, and unallocated ranges are not sent for an incremental (unchanged) and sent as zero
 * extents for a full backup. So an incremental contains exactly the clusters marked in the bitmap.
 * This needs no NBD client and no fleecing overlay in QEMU 7.2; the price is temporary space on
 * the server for the changed data and a stream that starts after the copy.
 *
 * <p>On failure or cancellation the job is cancelled in QEMU, the target nodes are removed, the
 * partial target file is deleted, and a checkpoint created with the backup is deleted again (its
 * bitmap merged into its parent's), so the checkpoints describe only backups that completed.
 */
public final class Backups {
  private static final Logger log = LoggerFactory.getLogger(Backups.class);
  private static final String NODE_PREFIX = "cryo-backup-";

  private final Domains domains;
  /** Creates push targets and reads the allocation maps of finished backup copies. */
  private final QemuImg img;
  private final Checkpoints checkpoints;
  private final ExecutorService executor;
  /** The current or last backup of each domain. Guarded by {@code this}. */
  private final Map<String, Run> runs = new HashMap<>();

  public Backups(Domains domains, Checkpoints checkpoints, ExecutorService executor) {
    this.domains = domains;
    this.checkpoints = checkpoints;
    this.executor = executor;
    this.img = QemuImg.besides(domains.qemuBinary());
  }

  /** Receives a streamed backup; calls may block (the stream waits for the client). */
  public interface ExtentSink {
    /** Most data bytes of one extent: the message size of the stream. */
    int maxExtentBytes();

    /** Called once the point-in-time copy is done, before the first extent. */
    void begin(BackupJobInfo info, Map<String, Long> diskSizes);

    /** One extent; blocks until the client can take it. */
    void extent(Extent extent) throws InterruptedException;

    /** Whether the client went away; the backup then stops and cleans up. */
    boolean cancelled();
  }

  // ---- push -------------------------------------------------------------------------------------

  /**
   * Starts a push backup and returns once QEMU's jobs run (or it failed to start). The backup goes
   * on in the background; follow it with {@link #job} and stop it with {@link #cancel}.
   *
   * @throws AbortedException if the domain is busy (e.g. with another backup)
   * @throws AlreadyExistsException if a target file exists
   */
  public BackupJobInfo startPush(Principal caller, String domainName, BackupRequest request) {
    Domain domain = domains.get(caller, domainName);
    for (BackupRequest.DiskTarget t : request.disks()) {
      if (t.target() == null || !t.target().isAbsolute()) {
        throw new InvalidArgumentException("disk '" + t.disk() + "' needs an absolute target "
            + "path for a push backup, got '" + t.target() + "'");
      }
      // A push target is a file QEMU creates: it must lie in an image folder, like every path
      // a caller names (PERMISSION_DENIED otherwise).
      domains.imageRoots().forWriting(t.target().toString());
    }
    if (request.disks().isEmpty()) {
      throw new InvalidArgumentException("a push backup needs a target file for each disk to "
          + "back up; none was given");
    }
    CompletableFuture<BackupJobInfo> started = new CompletableFuture<>();
    executor.execute(() -> {
      try (Domain.Job job = domain.beginJob(caller, "backup")) {
        Run run = new Run(domain, job, BackupJobInfo.Kind.PUSH, request);
        job.onAbort(run::requestCancel);
        run.execute(started);
      } catch (RuntimeException e) {
        started.completeExceptionally(e);
      }
    });
    try {
      return started.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancelledException("interrupted while starting the backup", e);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof RuntimeException re ? re
          : new InternalException("backup failed to start", e.getCause());
    }
  }

  /**
   * Runs a streamed backup on the calling thread, which must be one the caller owns: it holds the
   * domain's job until the last extent is handed to {@code sink}.
   *
   * @return the final state
   */
  public BackupJobInfo stream(Principal caller, String domainName, BackupRequest request,
      ExtentSink sink) {
    Domain domain = domains.get(caller, domainName);
    for (BackupRequest.DiskTarget t : request.disks()) {
      if (t.target() != null) {
        throw new InvalidArgumentException("a streamed backup takes no target path (disk '"
            + t.disk() + "')");
      }
    }
    try (Domain.Job job = domain.beginJob(caller, "backup")) {
      Run run = new Run(domain, job, BackupJobInfo.Kind.STREAM, request);
      job.onAbort(run::requestCancel);
      run.sink = sink;
      CompletableFuture<BackupJobInfo> started = new CompletableFuture<>();
      run.execute(started);
      BackupJobInfo info = run.info();
      if (info.state() == BackupJobInfo.State.FAILED) {
        throw run.failure;
      }
      if (info.state() == BackupJobInfo.State.CANCELLED) {
        throw new CancelledException("the backup of '" + domainName + "' was cancelled");
      }
      return info;
    }
  }

  /** The running or last backup of the domain. */
  public BackupJobInfo job(Principal caller, String domainName) {
    domains.get(caller, domainName);
    Run run;
    synchronized (this) {
      run = runs.get(domainName);
    }
    if (run == null) {
      throw new NotFoundException("domain '" + domainName + "' has had no backup since the "
          + "server started");
    }
    return run.info();
  }

  /**
   * Cancels the running backup of the domain; returns once it has stopped and cleaned up.
   *
   * @throws FailedPreconditionException if no backup is running
   */
  public BackupJobInfo cancel(Principal caller, String domainName) {
    domains.get(caller, domainName);
    Run run;
    synchronized (this) {
      run = runs.get(domainName);
    }
    if (run == null || run.info().state() != BackupJobInfo.State.RUNNING) {
      throw new FailedPreconditionException("domain '" + domainName + "' has no backup running");
    }
    run.requestCancel();
    try {
      run.done.get(5, TimeUnit.MINUTES);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("backup of '{}' did not stop cleanly: {}", domainName, e.toString());
    }
    return run.info();
  }

  // ---- one backup -------------------------------------------------------------------------------

  private final class Run {
    final Domain domain;
    /** The domain's job: GetDomainJob reports the backup's progress through it. */
    final Domain.Job job;
    final BackupJobInfo.Kind kind;
    final BackupRequest request;
    final CompletableFuture<Void> done = new CompletableFuture<>();
    /** Disk target device → target file. Set before the jobs start. */
    final Map<String, Path> targets = new LinkedHashMap<>();
    final Map<String, Long> sizes = new LinkedHashMap<>();
    /** Disk target device → the node backed up: the one the guest writes to now. */
    final Map<String, String> sources = new LinkedHashMap<>();
    ExtentSink sink;
    volatile boolean cancelRequested;
    volatile RunningQemu qemu;
    volatile BackupJobInfo.State state = BackupJobInfo.State.RUNNING;
    volatile long bytesDone;
    volatile long bytesTotal;
    volatile String checkpointCreated;
    volatile String message = "";
    RuntimeException failure;

    Run(Domain domain, Domain.Job job, BackupJobInfo.Kind kind, BackupRequest request) {
      this.domain = domain;
      this.job = job;
      this.kind = kind;
      this.request = request;
    }

    BackupJobInfo info() {
      return new BackupJobInfo(domain.name(), kind, state, request.since(), checkpointCreated,
          List.copyOf(targets.keySet()), bytesDone, bytesTotal, message);
    }

    /** Runs the whole backup on this thread; {@code started} completes once QEMU's jobs run. */
    void execute(CompletableFuture<BackupJobInfo> started) {
      List<String> nodesAdded = new ArrayList<>();
      List<Path> filesCreated = new ArrayList<>();
      Checkpoints.Prepared prepared = null;
      boolean qemuStarted = false;
      try {
        CheckpointDef since = request.since() == null ? null
            : checkpoints.lookup(domain.name(), request.since());
        qemu = Domains.requireActive(domain, "back up");
        removeLeftovers();
        Map<String, String> bitmaps = selectDisks(since);
        if (request.checkpointXml() != null) {
          prepared = checkpoints.prepare(domain,
              CheckpointXml.parse(request.checkpointXml(), CheckpointXml.Mode.CREATE));
        }
        for (Map.Entry<String, String> d : bitmaps.entrySet()) {
          String active = BlockNodes.activeNode(qemu.monitor(), d.getKey());
          if (!active.equals(BlockNodes.formatNode(d.getKey()))
              && (d.getValue() != null || request.checkpointXml() != null)) {
            // The dirty bitmaps live on the node QEMU started with, below the overlay the guest
            // now writes to: they miss every write since the snapshot.
            throw new FailedPreconditionException("disk " + d.getKey() + " of domain '"
                + domain.name() + "' runs on an external snapshot's overlay taken since it "
                + "started, which its checkpoints' bitmaps do not follow: take a full backup "
                + "without a checkpoint, or restart the domain first");
          }
          sources.put(d.getKey(), active);
          sizes.put(d.getKey(), virtualSize(active));
        }
        for (Map.Entry<String, Path> t : targets.entrySet()) {
          if (Files.exists(t.getValue())) {
            throw new CryoException(
                Reason.FILE_EXISTS,
                "backup target "
                    + t.getValue()
                    + " exists; "
                    + "a backup never overwrites a file, choose a new path");
          }
          Checkpoints.qemuImgStep(() -> img.createQcow2(t.getValue(), sizes.get(t.getKey())));
          filesCreated.add(t.getValue());
          Checkpoints.qemuImgStep(() -> domains.confinement().grant(domain.runDir(),
              t.getValue()));
          blockdevAdd(t.getKey(), t.getValue());
          nodesAdded.add(NODE_PREFIX + t.getKey());
        }
        synchronized (Backups.this) {
          runs.put(domain.name(), this);
        }
        Map<String, CompletableFuture<QemuEvent.BlockJobEnded>> ends = new LinkedHashMap<>();
        List<TransactionAction> actions = new ArrayList<>();
        for (Map.Entry<String, String> d : bitmaps.entrySet()) {
          String id = NODE_PREFIX + d.getKey();
          ends.put(d.getKey(), qemu.monitor().nextEvent(QemuEvent.BlockJobEnded.class,
              e -> id.equals(e.device())));
          actions.add(backupAction(d.getKey(), d.getValue()));
        }
        if (prepared != null) {
          actions.addAll(prepared.actions());
        }
        qemu.monitor().transaction(actions);
        qemuStarted = true;
        if (prepared != null) {
          checkpointCreated = checkpoints.commit(domain, prepared).getName();
        }
        log.info("domain '{}': {} backup {} of {} started", domain.name(), kind,
            request.since() == null ? "full" : "since " + request.since(), bitmaps.keySet());
        started.complete(info());
        awaitJobs(ends);
        removeNodes(nodesAdded);
        if (cancelRequested) {
          throw new CancelledException("the backup of '" + domain.name() + "' was cancelled");
        }
        if (kind == BackupJobInfo.Kind.STREAM) {
          streamTargets(since == null);
        }
        state = BackupJobInfo.State.COMPLETED;
        log.info("domain '{}': backup completed, {} bytes", domain.name(), bytesDone);
      } catch (RuntimeException e) {
        boolean cancelled = cancelRequested || e instanceof CancelledException
            || sink != null && sink.cancelled();
        if (qemuStarted) {
          cancelQemuJobs();
        }
        removeNodes(nodesAdded);
        if (kind == BackupJobInfo.Kind.PUSH || !filesCreated.isEmpty()) {
          deleteFiles(filesCreated);
          filesCreated.clear();
        }
        if (checkpointCreated != null) {
          try {
            checkpoints.abandon(domain, checkpointCreated);
          } catch (RuntimeException again) {
            e.addSuppressed(again);
          }
        }
        failure = e;
        message = e.getMessage() == null ? e.toString() : e.getMessage();
        state = cancelled ? BackupJobInfo.State.CANCELLED : BackupJobInfo.State.FAILED;
        log.info("domain '{}': backup {}: {}", domain.name(), state, message);
        if (!started.isDone()) {
          started.completeExceptionally(e);
        }
      } finally {
        if (kind == BackupJobInfo.Kind.STREAM) {
          deleteFiles(filesCreated);
        }
        done.complete(null);
      }
    }

    /** Fills {@link #targets}; returns disk → bitmap to read (null for a full backup). */
    private Map<String, String> selectDisks(CheckpointDef since) {
      DomainDef def = domain.def();
      Map<String, String> out = new LinkedHashMap<>();
      Map<String, Path> requested = new LinkedHashMap<>();
      for (BackupRequest.DiskTarget t : request.disks()) {
        if (requested.containsKey(t.disk())) {
          throw new InvalidArgumentException("disk '" + t.disk() + "' is listed twice");
        }
        requested.put(t.disk(), t.target());
      }
      for (String name : requested.keySet()) {
        if (def.disks().stream().noneMatch(d -> d.getTargetDev().equals(name))) {
          throw new InvalidArgumentException("domain '" + domain.name() + "' has no disk '"
              + name + "'");
        }
      }
      Map<String, Map<String, QemuMonitor.DirtyBitmap>> live = BlockNodes.bitmaps(qemu);
      for (DiskDef d : def.disks()) {
        String name = d.getTargetDev();
        if (!requested.isEmpty() && !requested.containsKey(name)) {
          continue;
        }
        if (d.isCdrom()) {
          if (requested.isEmpty()) {
            continue; // as in libvirt: a cdrom is no guest data to back up
          }
          throw new FailedPreconditionException("disk '" + name + "' is a cdrom, which is not "
              + "backed up; leave it out of the backup");
        }
        String bitmap = null;
        if (since != null) {
          CheckpointDef.Disk cd = since.disks().stream()
              .filter(x -> x.getName().equals(name) && x.hasBitmap()).findFirst().orElse(null);
          if (cd == null) {
            if (requested.isEmpty()) {
              continue;
            }
            throw new FailedPreconditionException("checkpoint '" + since.getName()
                + "' has no bitmap for disk '" + name + "'; back it up in full or leave it out");
          }
          QemuMonitor.DirtyBitmap b = live.getOrDefault(BlockNodes.formatNode(name), Map.of())
              .get(cd.getBitmap());
          if (b == null || b.inconsistent()) {
            throw new FailedPreconditionException("disk '" + name + "' has "
                + (b == null ? "no" : "an inconsistent") + " bitmap '" + cd.getBitmap()
                + "' for checkpoint '" + since.getName() + "' (QEMU was killed, or the image was "
                + "changed elsewhere); take a full backup and a new checkpoint");
          }
          bitmap = cd.getBitmap();
        } else if (d.isReadonly() && requested.isEmpty()) {
          continue;
        }
        out.put(name, bitmap);
        targets.put(name, kind == BackupJobInfo.Kind.PUSH ? requested.get(name)
            : domain.runDir().path().resolve("backup-" + name + ".qcow2"));
      }
      if (out.isEmpty()) {
        throw new InvalidArgumentException("nothing to back up: domain '" + domain.name()
            + "' has no disk that matches the request");
      }
      return out;
    }

    /**
     * Cancels jobs and removes nodes and temporary files a backup left behind when the server
     * that ran it died (QEMU outlives the server). A live backup of this domain cannot exist: the
     * caller holds the domain's job.
     */
    private void removeLeftovers() {
      List<String> stale = new ArrayList<>();
      for (QemuMonitor.BlockDeviceInfo n : qemu.monitor().queryNamedBlockNodes()) {
        String node = n.nodeName();
        if (node.startsWith(NODE_PREFIX)) {
          stale.add(node);
        }
      }
      if (!stale.isEmpty()) {
        log.warn("domain '{}': removing backup nodes {} left by an earlier server", domain.name(),
            stale);
        for (String node : stale) {
          try {
            qemu.monitor().jobCancel(node);
          } catch (Exception e) {
            log.debug("no job {}: {}", node, e.toString());
          }
        }
        awaitNoBackupJobs(qemu);
        removeNodes(new ArrayList<>(stale));
      }
      try (var files = Files.newDirectoryStream(domain.runDir().path(), "backup-*.qcow2")) {
        for (Path f : files) {
          Files.deleteIfExists(f);
        }
      } catch (IOException e) {
        log.warn("could not clean old backup files of '{}': {}", domain.name(), e.toString());
      }
    }

    private long virtualSize(String nodeName) {
      for (QemuMonitor.BlockDeviceInfo node : qemu.monitor().queryNamedBlockNodes()) {
        if (node.nodeName().equals(nodeName)) {
          return node.image().virtualSize();
        }
      }
      throw new InternalException("QEMU has no block node '" + nodeName + "'");
    }

    private void blockdevAdd(String disk, Path file) {
      qemu.monitor().blockdevAdd(new BlockdevOptions.Qcow2(NODE_PREFIX + disk,
          new BlockdevOptions.File(null, file, false), false));
    }

    private TransactionAction backupAction(String disk, String bitmap) {
      return new TransactionAction.BlockdevBackup(NODE_PREFIX + disk, sources.get(disk),
          NODE_PREFIX + disk,
          bitmap == null ? TransactionAction.Sync.FULL : TransactionAction.Sync.BITMAP, bitmap,
          bitmap == null ? null : TransactionAction.BitmapMode.NEVER, true,
          Math.max(0, request.maxBytesPerSecond()));
    }

    private void awaitJobs(Map<String, CompletableFuture<QemuEvent.BlockJobEnded>> ends) {
      long doneTotal = 0;
      long lenTotal = 0;
      for (Map.Entry<String, CompletableFuture<QemuEvent.BlockJobEnded>> end : ends.entrySet()) {
        QemuEvent.BlockJobEnded event;
        while (true) {
          Optional<QemuEvent.BlockJobEnded> ended =
              qemu.monitor().await(end.getValue(), Duration.ofMillis(500));
          if (ended.isPresent()) {
            event = ended.get();
            break;
          }
          updateProgress();
          if (cancelRequested || sink != null && sink.cancelled()) {
            cancelRequested = true;
            cancelQemuJobs();
          }
        }
        if (event.cancelled()) {
          cancelRequested = true;
        } else if (event.error() != null) {
          throw new InternalException("QEMU's backup of disk '" + end.getKey() + "' failed: "
              + event.error());
        }
        // The end event carries the job's final progress, also for jobs too quick to poll.
        doneTotal += event.offset();
        lenTotal += event.len();
      }
      if (kind == BackupJobInfo.Kind.PUSH) {
        bytesDone = doneTotal;
        bytesTotal = lenTotal;
      }
    }

    private void updateProgress() {
      try {
        long done = 0;
        long total = 0;
        for (QemuMonitor.JobInfo j : qemu.monitor().queryJobs()) {
          if (j.id().startsWith(NODE_PREFIX)) {
            done += j.currentProgress();
            total += j.totalProgress();
          }
        }
        // A streamed backup's own progress counts bytes sent, from the stream; the domain's job
        // shows QEMU's copy first either way.
        if (total > 0 && kind == BackupJobInfo.Kind.PUSH) {
          bytesDone = done;
          bytesTotal = total;
        }
        job.progress("copy", done, total);
      } catch (Exception e) {
        log.debug("query-jobs failed", e);
      }
    }

    /**
     * Asks the backup to stop, from another thread (CancelBackup, AbortDomainJob); never blocks,
     * as an abort hook must not. The backup's own thread cancels QEMU's jobs within half a
     * second (it polls their progress that often) or stops before its next extent, then cleans
     * up.
     */
    void requestCancel() {
      cancelRequested = true;
    }

    void cancelQemuJobs() {
      RunningQemu q = qemu;
      if (q == null) {
        return;
      }
      for (String disk : List.copyOf(targets.keySet())) {
        try {
          q.monitor().jobCancel(NODE_PREFIX + disk);
        } catch (Exception e) {
          log.debug("job-cancel {}: {}", disk, e.toString()); // already finished
        }
      }
      awaitNoBackupJobs(q);
    }

    /** Waits for the backup jobs to go away, so that their target nodes can be removed. */
    private void awaitNoBackupJobs(RunningQemu q) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < deadline) {
        try {
          boolean any = false;
          for (QemuMonitor.JobInfo j : q.monitor().queryJobs()) {
            any |= j.id().startsWith(NODE_PREFIX);
          }
          if (!any) {
            return;
          }
          Thread.sleep(100); // QMP has no event for "dismissed"; poll the short job list
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (Exception e) {
          return;
        }
      }
    }

    private void removeNodes(List<String> nodes) {
      for (String node : List.copyOf(nodes)) {
        try {
          qemu.monitor().blockdevDel(node);
          nodes.remove(node);
        } catch (Exception e) {
          log.warn("could not remove backup node {}: {}", node, e.toString());
        }
      }
    }

    private void deleteFiles(List<Path> files) {
      for (Path f : files) {
        try {
          Files.deleteIfExists(f);
        } catch (IOException e) {
          log.warn("could not remove backup file {}: {}", f, e.toString());
        }
      }
    }

    /** Sends the finished temporary targets as extents. */
    private void streamTargets(boolean full) {
      Map<String, List<ExtentPlan.Piece>> plans = new LinkedHashMap<>();
      long total = 0;
      for (Map.Entry<String, Path> t : targets.entrySet()) {
        List<ExtentPlan.Piece> plan = ExtentPlan.plan(
            Checkpoints.qemuImg(() -> img.map(t.getValue())), full, sink.maxExtentBytes());
        plans.put(t.getKey(), plan);
        total += ExtentPlan.dataBytes(plan);
      }
      bytesTotal = total;
      job.progress("send", 0, total);
      sink.begin(info(), Map.copyOf(sizes));
      try {
        for (Map.Entry<String, List<ExtentPlan.Piece>> p : plans.entrySet()) {
          String disk = p.getKey();
          try (FileChannel ch = FileChannel.open(targets.get(disk), StandardOpenOption.READ)) {
            for (ExtentPlan.Piece piece : p.getValue()) {
              if (piece.zero()) {
                send(new Extent(disk, piece.start(), piece.length(), true, new byte[0]));
                continue;
              }
              ByteBuffer buf = ByteBuffer.allocate((int) piece.length());
              while (buf.hasRemaining()) {
                if (ch.read(buf, piece.hostOffset() + buf.position()) < 0) {
                  throw new InternalException("backup file of '" + disk + "' is short");
                }
              }
              send(new Extent(disk, piece.start(), piece.length(), false, buf.array()));
              bytesDone += piece.length();
              job.progress("send", bytesDone, bytesTotal);
            }
          }
        }
      } catch (IOException e) {
        throw new InternalException("could not read the backup of '" + domain.name() + "': "
            + e.getMessage(), e);
      }
    }

    private void send(Extent extent) {
      if (sink.cancelled() || cancelRequested) {
        throw new CancelledException("the client cancelled the backup of '" + domain.name()
            + "'");
      }
      try {
        sink.extent(extent);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CancelledException("interrupted while streaming the backup", e);
      }
    }
  }
}
