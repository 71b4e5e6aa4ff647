package dev.cryo.server.image;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuRefusedException;
import dev.cryo.server.store.AtomicFile;
import dev.cryo.server.store.ImageRoots;
import dev.cryo.server.store.ObjectStore;
import dev.cryo.server.xml.SecureXml;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.newsclub.net.unix.AFUNIXSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketPair;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Save and restore of domains through libvirt-format save images.
 *
 * <p>Save: QEMU migrates into a Unix socket the server listens on (no {@code exec:}, no shell);
 * the server's thread reads it, compresses, hashes and writes the image to a file or a stream.
 * Restore: a new QEMU ({@code -S}, {@code -incoming defer}) listens on a Unix socket for
 * {@code migrate-incoming}; the server decodes the image and writes the migration stream into it.
 * The guest stays paused until the whole image has arrived and its digest matched.
 *
 * <p>Every method blocks the calling thread, which must be one the caller owns (the gRPC adapter
 * runs them on its own executor), and holds the domain's job while it works. Every method takes
 * the caller's {@link Principal}, since the thread it runs on knows nothing of the call: a
 * domain the caller does not see, and an image holding such a domain, do not exist for it
 * (NOT_FOUND); its jobs count against the caller's limit.
 */
public final class SaveRestore {
  private static final Logger log = LoggerFactory.getLogger(SaveRestore.class);
  private static final int IO_BUFFER = 1 << 20;
  /** QEMU's default 32 MiB/s cap would make it the bottleneck; libvirt lifts it the same way. */
  private static final long UNLIMITED_BANDWIDTH = 1L << 50;
  private static final Duration MIGRATION_END_WAIT = Duration.ofSeconds(120);
  private static final Set<String> MIGRATION_DONE = Set.of("completed", "failed", "cancelled");
  private static final Duration PROGRESS_INTERVAL = Duration.ofMillis(250);
  private static final long SYNC_EVERY = 64L << 20;
  /** Send buffer of the socket a restore feeds QEMU through. */
  private static final int RESTORE_SOCKET_BUFFER = 4 << 20;

  private final Domains domains;
  private final ImageRoots roots;
  private final boolean requireVerifiedImages;
  /** The server's object store, or null if it has none. */
  private final ObjectStore objects;

  public SaveRestore(Domains domains, ImageRoots roots) {
    this(domains, roots, false);
  }

  public SaveRestore(Domains domains, ImageRoots roots, boolean requireVerifiedImages) {
    this(domains, roots, requireVerifiedImages, null);
  }

  /**
   * The object store images may also live in.
   *
   * @throws FailedPreconditionException if the server has none
   */
  public ObjectStore objects() {
    if (objects == null) {
      throw new FailedPreconditionException("this server has no object store: start it with "
          + "--object-store-bucket (and --object-store-endpoint for a store other than AWS S3)");
    }
    return objects;
  }

  /**
   * @param requireVerifiedImages refuse every restore of an image whose payload cannot be
   *     checked against a digest (FAILED_PRECONDITION), whatever the request says
   */
  public SaveRestore(Domains domains, ImageRoots roots, boolean requireVerifiedImages,
      ObjectStore objects) {
    this.objects = objects;
    this.domains = domains;
    this.roots = roots;
    this.requireVerifiedImages = requireVerifiedImages;
  }

  public ImageRoots roots() {
    return roots;
  }

  public Domains domains() {
    return domains;
  }

  // ---- options and results -----------------------------------------------------------------

  /** What happens to the domain once its image is complete. */
  public enum After {
    STOP,
    CONTINUE,
    PAUSED
  }

  /** How to save. */
  public record SaveOptions(Compression compression, int level, After after, boolean live) {
    public SaveOptions {
      compression.level(level);
    }
  }

  /** Where a save is, for progress reports. */
  public enum Phase {
    SETUP,
    TRANSFER,
    FINISH
  }

  /** Receives progress of a save, on the saving thread; must not block. */
  public interface ProgressListener {
    void progress(Phase phase, long processedBytes, long estimatedTotalBytes, double bytesPerSec);
  }

  /**
   * The outcome of a save.
   *
   * @param imageBytes bytes of the whole image
   * @param payload digest and sizes of the payload
   * @param duration the whole save
   * @param downtime how long the guest's CPUs were stopped by the save
   * @param path the file written, or null for a stream
   * @param imageXml the image's XML with its digest, as the file holds it (or, for a stream, as
   *     a file of the stream should)
   */
  public record SaveResult(long imageBytes, PayloadSummary payload, Duration duration,
      Duration downtime, Path path, DomainInfo domain, String imageXml) {}

  /** How a restored domain starts. */
  public enum Start {
    AS_SAVED,
    RUNNING,
    PAUSED
  }

  /**
   * The outcome of a restore.
   *
   * @param verified whether the payload matched a digest
   * @param warnings e.g. that there was no digest to check
   */
  public record RestoreResult(DomainInfo domain, List<String> warnings, boolean verified,
      long payloadBytes, Duration duration) {}

  /** Stops a save or restore from another thread. */
  public static final class Cancel {
    /** Guarded by {@code this}. */
    private boolean cancelled;
    private final List<AutoCloseable> onCancel = new ArrayList<>();

    /** Marks the work cancelled and closes what it is blocked on. */
    public void cancel() {
      List<AutoCloseable> toClose;
      synchronized (this) {
        if (cancelled) {
          return;
        }
        cancelled = true;
        toClose = List.copyOf(onCancel);
      }
      for (AutoCloseable c : toClose) {
        try {
          c.close();
        } catch (Exception e) {
          log.debug("closing on cancel", e);
        }
      }
    }

    public synchronized boolean isCancelled() {
      return cancelled;
    }

    /** Closes {@code c} when cancelled (at once if already cancelled). */
    void closeOnCancel(AutoCloseable c) {
      boolean now;
      synchronized (this) {
        now = cancelled;
        if (!now) {
          onCancel.add(c);
        }
      }
      if (now) {
        try {
          c.close();
        } catch (Exception e) {
          log.debug("closing on cancel", e);
        }
      }
    }

    void check() {
      if (isCancelled()) {
        throw new CancelledException("cancelled by the client");
      }
    }
  }

  // ---- save --------------------------------------------------------------------------------

  /**
   * Saves {@code name} into the file {@code path} (already checked against the image folders):
   * written under a temporary name, made durable (fsync), its magic flipped to complete, then
   * renamed over {@code path}. On failure or cancel the temporary file is removed and an existing
   * file at {@code path} is left as it was.
   *
   * <p>A raw image is written by QEMU itself into the file's descriptor, as libvirt does, while
   * the server hashes behind it; a compressed one goes through the server's codec.
   */
  public SaveResult saveToFile(Principal caller, String name, Path path, SaveOptions options,
      ProgressListener progress, Cancel cancel) {
    Path temp = path.resolveSibling("." + path.getFileName() + ".cryo-"
        + UUID.randomUUID().toString().substring(0, 8) + AtomicFile.TEMP_SUFFIX);
    boolean done = false;
    try (RandomAccessFile file = new RandomAccessFile(createNew(temp), "rw")) {
      Transfer transfer = options.compression() == Compression.RAW
          ? m -> qemuWritesFile(m, file)
          : m -> throughCodec(m, new BufferedOutputStream(
              Channels.newOutputStream(file.getChannel()), IO_BUFFER), false, options);
      Completion completion = (imageXml, written) -> {
        SaveImageFile.complete(file.getChannel(), written.header(), imageXml);
        Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
        AtomicFile.syncDirectory(path.getParent());
      };
      SaveResult result = save(caller, name, options, progress, cancel, transfer, completion,
          path);
      done = true;
      return result;
    } catch (IOException e) {
      throw new InternalException("could not write the save image " + path + ": "
          + e.getMessage(), e);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(temp);
        } catch (IOException e) {
          log.warn("could not remove the partial image {}", temp, e);
        }
      }
    }
  }

  private static java.io.File createNew(Path path) throws IOException {
    Files.newByteChannel(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
    return path.toFile();
  }

  /** Saves {@code name} as an image written to {@code out} (the caller's stream). */
  public SaveResult saveToStream(Principal caller, String name, OutputStream out,
      SaveOptions options, ProgressListener progress, Cancel cancel) {
    return save(caller, name, options, progress, cancel, m -> throughCodec(m, out, true, options),
        (imageXml, written) -> { }, null);
  }

  /**
   * Saves {@code name} into the object {@code loc} as one multipart upload, in a stream's format
   * (complete header, digest trailer), with memory bounded by a few parts and no local file. The
   * upload starts before the guest is touched, so bad credentials or a missing bucket change
   * nothing; on any later failure it is aborted, no object appears, and the guest goes on.
   */
  public SaveResult saveToObject(Principal caller, String name, ObjectStore.Location loc,
      SaveOptions options, ProgressListener progress, Cancel cancel) {
    domains.get(caller, name);
    try (ObjectStore.Upload upload = objects().startUpload(loc)) {
      return save(caller, name, options, progress, cancel, m -> {
        Written w = throughCodec(m, upload, true, options);
        upload.finishParts();
        return w;
      }, (imageXml, written) -> upload.complete(), null);
    }
  }

  /**
   * Restores from the object {@code loc}, read with one GET as it arrives and verified against
   * its trailer before the guest runs, as a streamed image is.
   */
  public RestoreResult restoreFromObject(Principal caller, ObjectStore.Location loc,
      RestoreOptions options, Cancel cancel) {
    InputStream object = objects().read(loc);
    cancel.closeOnCancel(object);
    try (InputStream in = new BufferedInputStream(object, IO_BUFFER)) {
      return restore(caller, in, Optional::empty, options, cancel, null, null);
    } catch (IOException e) {
      throw new InternalException("could not read " + loc.uri() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The facts of the image object {@code loc}, from two ranged GETs: its header and XML, and
   * its last few KiB for the digest trailer. The payload is not read.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public SaveImageFile.Info info(Principal caller, ObjectStore.Location loc) {
    ObjectStore store = objects();
    ObjectStore.Range head = store.range(loc, 0,
        SaveImageHeader.SIZE + SaveImageWriter.XML_PADDING + 64 * 1024 - 1);
    try {
      SaveImageHeader header = SaveImageHeader.decode(
          java.util.Arrays.copyOf(head.bytes(), SaveImageHeader.SIZE));
      byte[] bytes = head.bytes();
      if (bytes.length < header.payloadOffset() && head.objectBytes() > bytes.length) {
        bytes = store.range(loc, 0, header.payloadOffset() - 1).bytes();
      }
      SaveImageReader r = SaveImageReader.open(new java.io.ByteArrayInputStream(bytes));
      requireSees(caller, imageDomainName(r));
      long offset = header.payloadOffset();
      long payload = Math.max(0, head.objectBytes() - offset);
      int tailBytes = (int) Math.min(ImageTrailer.MAX_UNIT_BYTES, payload);
      Optional<ImageTrailer> trailer = Optional.empty();
      if (tailBytes > 0) {
        byte[] tail = store.range(loc, head.objectBytes() - tailBytes,
            head.objectBytes() - 1).bytes();
        trailer = ImageTrailer.find(header.compression(), tail, payload);
      }
      if (trailer.isEmpty() && header.trailer()) {
        throw new CryoException(Reason.IMAGE_TRUNCATED, "the image object " + loc.uri()
            + " announces a digest trailer but does not end with one: it is truncated or "
            + "corrupt");
      }
      Optional<ImageXml.Digest> digest = trailer.map(ImageTrailer::digest).or(r::storedDigest);
      return new SaveImageFile.Info(r.xml(), r.parsed().def(), header.wasRunning(),
          header.compression(), offset, payload, digest, digest.isPresent());
    } catch (IOException e) {
      throw new InternalException("could not read " + loc.uri() + ": " + e.getMessage(), e);
    }
  }

  /** The domain's managed save: {@code STATE/save/NAME.save}. */
  public SaveResult saveManaged(Principal caller, String name, SaveOptions options,
      ProgressListener progress, Cancel cancel) {
    return saveToFile(caller, name, domains.managedSavePath(caller, name), options, progress,
        cancel);
  }

  /**
   * An image's header as written, its payload's digest and sizes, and the stored bytes of the
   * digest trailer after the payload.
   */
  private record Written(SaveImageHeader header, PayloadSummary payload, int trailerBytes) {}

  /** Points QEMU's migration at a sink and moves the image; returns when the stream ended. */
  private interface Transfer {
    Written run(Migration m) throws IOException;
  }

  /** Makes the written image whole once QEMU reported the migration complete. */
  private interface Completion {
    /** @param imageXml the image's XML with its digest, as the file holds it */
    void complete(String imageXml, Written written) throws IOException;
  }

  /** One outgoing migration: what a {@link Transfer} needs to start it and report on it. */
  private record Migration(QemuMonitor qmp, Domain domain, String xml, boolean wasRunning,
      long total, CompletableFuture<QemuEvent.Migration> end, ProgressListener progress,
      Cancel cancel) {

    void start(String uri) {
      qmp.migrate(uri);
    }
  }

  private SaveResult save(Principal caller, String name, SaveOptions options,
      ProgressListener progress, Cancel cancel, Transfer transfer, Completion completion,
      Path path) {
    PhaseClock clock = new PhaseClock();
    Domain domain = domains.get(caller, name);
    try (Domain.Job job = domain.beginJob(caller, "save")) {
      cancel.check();
      job.onAbort(cancel::cancel);
      RunningQemu running = Domains.requireActive(domain, "save");
      if (domain.state() == DomainState.SHUTDOWN) {
        throw new FailedPreconditionException("domain '" + name + "' is shutting down");
      }
      boolean wasRunning = domain.state() == DomainState.RUNNING;
      QemuMonitor qmp = running.monitor();
      String xml = ImageXml.forImage(DomainXml.format(domain.def()));
      long total = domain.def().memoryBytes();
      progress.progress(Phase.SETUP, 0, total, 0);
      long stoppedAt = 0;
      boolean completed = false;
      // Past QEMU's end but before the image is whole (an object store refusing to complete
      // the upload): the guest still goes on as before the save.
      boolean afterApplied = false;
      try {
        setupMigration(qmp, true);
        if (wasRunning && !options.live()) {
          qmp.stop();
          stoppedAt = System.nanoTime();
          domains.setState(domain, DomainState.PAUSED, StateReason.SAVED,
              DomainEvent.Type.SUSPENDED);
        }
        CompletableFuture<QemuEvent.Migration> end = qmp.nextEvent(QemuEvent.Migration.class,
            e -> MIGRATION_DONE.contains(e.status()));
        clock.mark("setup");
        ProgressListener reported = (phase, done, estimated, rate) -> {
          job.progress("memory", done, estimated);
          progress.progress(phase, done, estimated, rate);
        };
        Written written = transfer.run(new Migration(qmp, domain, xml, wasRunning, total, end,
            reported, cancel));
        clock.mark("transfer");
        QemuEvent.Migration last = await(qmp, end,
            "QEMU to finish the migration of '" + name + "'");
        if (!"completed".equals(last.status())) {
          throw new InternalException("QEMU's migration of '" + name + "' ended "
              + last.status() + ": " + migrationError(qmp));
        }
        if (stoppedAt == 0) {
          stoppedAt = System.nanoTime() - downtimeNanos(qmp);
        }
        completed = true;
        // QEMU is done with the guest's memory: from here the save finishes rather than undo.
        job.onAbort(null);
        job.progress("sync", written.payload().rawBytes(), written.payload().rawBytes());
        String imageXml = ImageXml.forImage(ImageXml.withDigest(ImageXml.parse(xml).def(),
            new ImageXml.Digest(written.payload().sha256(), written.payload().storedBytes())));
        completion.complete(imageXml, written);
        clock.mark("sync");
        afterApplied = true;
        DomainInfo info = after(domain, running, options.after(), wasRunning);
        clock.mark("after");
        log.info("saved '{}' ({} {} bytes) in {}", name, options.compression().label(),
            written.payload().storedBytes(), clock);
        return new SaveResult(written.header().payloadOffset() + written.payload().storedBytes()
            + written.trailerBytes(),
            written.payload(), clock.elapsed(), Duration.ofNanos(System.nanoTime() - stoppedAt),
            path, info, imageXml);
      } catch (IOException | RuntimeException e) {
        if (!completed) {
          undoSave(domain, running, wasRunning, stoppedAt != 0 || options.live());
        } else if (!afterApplied) {
          undoSave(domain, running, wasRunning, true);
        }
        throw translate(e, cancel, "save domain '" + name + "'");
      } catch (Error e) {
        // Even out of memory in a codec, the guest must not be left paused mid-migration.
        if (!completed) {
          undoSave(domain, running, wasRunning, stoppedAt != 0 || options.live());
        }
        throw e;
      }
    }
  }

  /**
   * QEMU migrates into one end of a socket pair handed over as a descriptor ({@code getfd} +
   * {@code migrate fd:NAME}, as libvirt does: an unprivileged QEMU opens no path); the server
   * compresses and hashes what arrives on the other end and writes the image to {@code out}.
   *
   * @param completeMagic true for a stream, which cannot be rewritten later
   */
  private static Written throughCodec(Migration m, OutputStream out, boolean completeMagic,
      SaveOptions options) throws IOException {
    AFUNIXSocketPair<AFUNIXSocketChannel> pair = AFUNIXSocketPair.open();
    AFUNIXSocketChannel qemuEnd = pair.getSocket2();
    try (SocketChannel in = pair.getSocket1(); qemuEnd) {
      m.qmp().getfd("cryo-save-stream", qemuEnd.getFileDescriptor());
      // Our copy of QEMU's end closes when the migration has ended, not before: closing it
      // shuts the socket down for QEMU's copy too. Then what QEMU wrote is read, then EOF.
      m.end().whenComplete((e, t) -> {
        try {
          qemuEnd.close();
        } catch (IOException ex) {
          log.debug("closing QEMU's end of the save stream", ex);
        }
      });
      m.cancel().closeOnCancel(in);
      try {
        m.start("fd:cryo-save-stream");
      } catch (QemuRefusedException e) {
        m.qmp().closefd("cryo-save-stream");
        throw e;
      }
      try (SaveImageWriter writer = SaveImageWriter.start(out, m.xml(), m.wasRunning(),
          options.compression(), options.level(), completeMagic)) {
        copy(in, writer, m.progress(), m.total(), m.cancel());
        m.cancel().check();
        m.progress().progress(Phase.FINISH, writer.rawBytes(), m.total(), 0);
        PayloadSummary summary = writer.finish();
        out.flush();
        return new Written(writer.header(), summary, writer.trailerBytes());
      }
    }
  }

  private static void copy(SocketChannel in, SaveImageWriter writer, ProgressListener progress,
      long total, Cancel cancel) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(IO_BUFFER);
    Progress report = new Progress(progress, total);
    boolean eof = false;
    while (!eof) {
      // Fill most of the buffer first: fewer, larger writes into the codec and the sink.
      while (buf.position() < IO_BUFFER / 2) {
        if (in.read(buf) < 0) {
          eof = true;
          break;
        }
      }
      writer.payload().write(buf.array(), 0, buf.position());
      buf.clear();
      if (report.due()) {
        cancel.check();
        report.report(writer.rawBytes());
      }
    }
  }

  /**
   * QEMU writes the raw image itself into the file's descriptor, positioned after the header
   * ({@code getfd} + {@code migrate fd:NAME}), as libvirt does: no copy through the server. The
   * server follows the growing file with positional reads, which leave QEMU's offset alone, and
   * hashes it from the page cache as it is written. It also flushes what QEMU wrote every {@link
   * #SYNC_EVERY} bytes, so the fsync that makes the image durable overlaps the migration instead
   * of following it, and a large save does not pile up dirty pages on the host.
   */
  private static Written qemuWritesFile(Migration m, RandomAccessFile file)
      throws IOException {
    FileChannel ch = file.getChannel();
    SaveImageHeader header = SaveImageWriter.writeHead(Channels.newOutputStream(ch), m.xml(),
        m.wasRunning(), Compression.RAW, false);
    long offset = header.payloadOffset();
    m.qmp().getfd("cryo-save", file.getFD());
    try {
      m.start("fd:cryo-save");
    } catch (QemuRefusedException e) {
      m.qmp().closefd("cryo-save");
      throw e;
    }
    Progress report = new Progress(m.progress(), m.total());
    try (ParallelSha256 sha = new ParallelSha256()) {
      ByteBuffer buf = ByteBuffer.allocate(IO_BUFFER);
      long pos = offset;
      long synced = offset;
      while (true) {
        boolean ended = m.end().isDone();
        buf.clear();
        int n = ch.read(buf, pos);
        if (n > 0) {
          sha.update(buf.array(), 0, n);
          pos += n;
          if (pos - synced >= SYNC_EVERY) {
            ch.force(false);
            synced = pos;
          }
        } else if (ended) {
          // QEMU had finished before this read found nothing more: the file is whole.
          break;
        } else {
          // Caught up with QEMU: let it write on.
          java.util.concurrent.locks.LockSupport.parkNanos(500_000);
        }
        if (report.due()) {
          m.cancel().check();
          report.report(pos - offset);
        }
      }
      m.progress().progress(Phase.FINISH, pos - offset, m.total(), 0);
      long stored = pos - offset;
      PayloadSummary summary = new PayloadSummary(sha.finish(), stored, stored);
      byte[] trailer = new ImageTrailer(stored, stored, summary.sha256()).unit(Compression.RAW);
      SaveImageFile.writeFully(ch, ByteBuffer.wrap(trailer), pos);
      return new Written(header, summary, trailer.length);
    }
  }

  /** Progress reports at most every {@link #PROGRESS_INTERVAL}, with the rate since the last. */
  private static final class Progress {
    private final ProgressListener listener;
    private final long total;
    private long lastReport = System.nanoTime();
    private long lastBytes;

    Progress(ProgressListener listener, long total) {
      this.listener = listener;
      this.total = total;
    }

    boolean due() {
      return System.nanoTime() - lastReport > PROGRESS_INTERVAL.toNanos();
    }

    void report(long bytes) {
      long now = System.nanoTime();
      listener.progress(Phase.TRANSFER, bytes, Math.max(total, bytes),
          (bytes - lastBytes) * 1e9 / (now - lastReport));
      lastReport = now;
      lastBytes = bytes;
    }
  }

  private DomainInfo after(Domain domain, RunningQemu running, After after, boolean wasRunning) {
    switch (after) {
      case STOP -> domains.stopSaved(domain, running);
      case CONTINUE -> {
        if (wasRunning) {
          running.monitor().cont();
          domains.setState(domain, DomainState.RUNNING, StateReason.UNPAUSED,
              DomainEvent.Type.RESUMED);
        } else {
          domains.setState(domain, DomainState.PAUSED, StateReason.USER, null);
        }
      }
      case PAUSED -> domains.setState(domain, DomainState.PAUSED, StateReason.SAVED,
          DomainEvent.Type.SUSPENDED);
      default -> throw new AssertionError(after);
    }
    return domains.info(domain);
  }

  /** After a failed or cancelled save: stop QEMU's migration and let the guest go on as before. */
  private void undoSave(Domain domain, RunningQemu running, boolean wasRunning,
      boolean mayBeStopped) {
    QemuMonitor qmp = running.monitor();
    try {
      // "none", or how the last migration (maybe an earlier save's) ended: nothing to cancel.
      String status = queryMigrateStatus(qmp);
      if (!"none".equals(status) && !MIGRATION_DONE.contains(status)) {
        CompletableFuture<QemuEvent.Migration> end = qmp.nextEvent(QemuEvent.Migration.class,
            e -> MIGRATION_DONE.contains(e.status()));
        qmp.migrateCancel();
        if (!MIGRATION_DONE.contains(queryMigrateStatus(qmp))) {
          end.get(30, TimeUnit.SECONDS);
        } else {
          end.cancel(false);
        }
      }
      if (wasRunning && mayBeStopped) {
        qmp.cont();
        domains.setState(domain, DomainState.RUNNING, StateReason.UNPAUSED,
            DomainEvent.Type.RESUMED);
      }
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      log.error("could not undo the failed save of '{}': {}", domain.name(), e.getMessage());
    }
  }

  private static void setupMigration(QemuMonitor qmp, boolean outgoing) {
    qmp.migrateSetCapabilities(List.of(new QemuMonitor.MigrationCapability("events", true)));
    if (outgoing) {
      qmp.migrateSetParameters(new QemuMonitor.MigrationParameters(UNLIMITED_BANDWIDTH));
    }
  }

  private static String queryMigrateStatus(QemuMonitor qmp) {
    return qmp.queryMigrate().status();
  }

  private static String migrationError(QemuMonitor qmp) {
    try {
      String d = qmp.queryMigrate().errorDesc();
      return d == null ? "no detail from QEMU" : d;
    } catch (RuntimeException e) {
      return e.getMessage();
    }
  }

  private static long downtimeNanos(QemuMonitor qmp) {
    try {
      Long d = qmp.queryMigrate().downtimeMillis();
      return d == null ? 0 : TimeUnit.MILLISECONDS.toNanos(d);
    } catch (RuntimeException e) {
      return 0;
    }
  }

  private static QemuEvent.Migration await(QemuMonitor qmp,
      CompletableFuture<QemuEvent.Migration> f, String what) {
    return qmp.await(f, MIGRATION_END_WAIT).orElseThrow(() -> new DeadlineExceededException(
        "timed out after " + MIGRATION_END_WAIT.toSeconds() + " s waiting for " + what));
  }

  private static RuntimeException translate(Exception e, Cancel cancel, String what) {
    if (cancel.isCancelled()) {
      return e instanceof CancelledException ce ? ce
          : new CancelledException("cancelled by the client", e);
    }
    if (e instanceof CryoException ce) {
      return ce;
    }
    if (e instanceof RuntimeException r && !(e instanceof IllegalStateException)) {
      return r;
    }
    return new InternalException("could not " + what + ": " + e.getMessage(), e);
  }

  // ---- restore -----------------------------------------------------------------------------

  /**
   * How to restore.
   *
   * @param requireVerified refuse an image whose payload cannot be checked against a digest
   */
  public record RestoreOptions(Start start, String replacementXml, boolean requireVerified) {
    public RestoreOptions(Start start, String replacementXml) {
      this(start, replacementXml, false);
    }
  }

  /**
   * Refuses an unverifiable image if the server or the request requires verified images.
   *
   * @param why why the image cannot be verified
   */
  private void requireVerifiable(RestoreOptions options, String why) {
    if (requireVerifiedImages || options.requireVerified()) {
      throw new FailedPreconditionException("the save image cannot be verified (" + why + ") "
          + "and " + (requireVerifiedImages ? "this server is run with "
          + "--require-verified-images" : "the request sets require_verified")
          + ": send the payload's SHA-256 in the restore's trailer message, or save the domain "
          + "again with a Cryo that writes digest trailers"
          + (requireVerifiedImages ? ", or restore it on a server without that option"
          : ", or restore without require_verified to accept it unchecked"));
    }
  }

  /**
   * Restores from an image arriving on {@code image} (the caller's stream).
   *
   * @param trailer the digest the client sent after the image, read once {@code image} ended
   */
  public RestoreResult restoreFromStream(Principal caller, ChunkedImageStream image,
      Supplier<Optional<ImageXml.Digest>> trailer, RestoreOptions options, Cancel cancel) {
    return restore(caller, image, trailer, options, cancel, null, null);
  }

  /**
   * Restores from an image file on the server (already checked against the image folders).
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public RestoreResult restoreFromFile(Principal caller, Path path, RestoreOptions options,
      Cancel cancel) {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), IO_BUFFER)) {
      return restore(caller, in, Optional::empty, options, cancel, null, path);
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * Restores the managed save of {@code name}, then deletes it (as libvirt does).
   *
   * @throws NotFoundException if the domain has none, or {@code caller} does not see it
   */
  public RestoreResult restoreManaged(Principal caller, String name, RestoreOptions options,
      Cancel cancel) {
    Path path = domains.managedSavePath(caller, name);
    if (!Files.isRegularFile(path)) {
      throw new CryoException(
              Reason.IMAGE_NOT_FOUND, "domain '" + name + "' has no managed save image")
          .with("domain", name);
    }
    RestoreResult result;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), IO_BUFFER)) {
      result = restore(caller, in, Optional::empty, options, cancel, name, path);
    } catch (IOException e) {
      throw new InternalException("could not read the managed save of '" + name + "': "
          + e.getMessage(), e);
    }
    removeManagedSave(caller, name);
    return new RestoreResult(domains.info(caller, name), result.warnings(), result.verified(),
        result.payloadBytes(), result.duration());
  }

  /** Deletes the managed save of {@code name}; false if there was none. */
  public boolean removeManagedSave(Principal caller, String name) {
    Path path = domains.managedSavePath(caller, name);
    try {
      boolean existed = Files.exists(path);
      AtomicFile.delete(path);
      return existed;
    } catch (IOException e) {
      throw new InternalException("could not delete the managed save of '" + name + "'", e);
    }
  }

  /**
   * @param file the image file {@code image} reads, or null for a stream: a raw image file is
   *     handed to QEMU itself (its descriptor, positioned at the payload), with no copy loop
   */
  private RestoreResult restore(Principal caller, InputStream image,
      Supplier<Optional<ImageXml.Digest>> trailer, RestoreOptions options, Cancel cancel,
      String expectedName, Path file) {
    PhaseClock clock = new PhaseClock();
    SaveImageReader reader;
    try {
      reader = SaveImageReader.open(image);
    } catch (IOException e) {
      throw translate(e, cancel, "read the save image");
    }
    try (reader) {
      return restore(caller, image, reader, trailer, options, cancel, expectedName, file, clock);
    }
  }

  private RestoreResult restore(Principal caller, InputStream image, SaveImageReader reader,
      Supplier<Optional<ImageXml.Digest>> trailer, RestoreOptions options, Cancel cancel,
      String expectedName, Path file, PhaseClock clock) {
    // The image's own domain decides, before any replacement XML: a caller must not load
    // another tenant's memory, not even under a name of its own.
    requireSees(caller, imageDomainName(reader));
    if (file != null && !reader.header().trailer() && reader.storedDigest().isEmpty()) {
      // Known before QEMU starts: a file without any digest (a stream may still send one).
      try {
        if (SaveImageFile.trailer(file, reader.header()).isEmpty()) {
          requireVerifiable(options, "it carries no digest: written by libvirt, or by a Cryo "
              + "older than digest trailers");
        }
      } catch (IOException e) {
        throw translate(e, cancel, "read the save image");
      }
    }
    List<String> warnings = new ArrayList<>();
    DomainDef def;
    boolean replaced = options.replacementXml() != null && !options.replacementXml().isBlank();
    try {
      def = ImageXml.withoutDigest(reader.parsed().def());
      if (replaced) {
        def = compatible(def, DomainXml.parse(options.replacementXml()).def());
      }
    } catch (CryoException e) {
      if (!replaced || e.reason() != Reason.IMAGE_XML_INVALID) {
        throw e;
      }
      // An image from libvirt with a device Cryo does not model (e.g. a Unix-socket serial):
      // the caller's replacement stands in, as libvirt's dxml does.
      def = DomainXml.parse(options.replacementXml()).def();
      warnings.add("the image's own XML is not usable by Cryo (" + e.getMessage()
          + "); the replacement XML was used without a compatibility check");
    }
    if (expectedName != null && !expectedName.equals(def.getName())) {
      throw new InvalidArgumentException("the managed save of '" + expectedName
          + "' holds domain '" + def.getName() + "'");
    }
    String name = def.getName();
    Domain domain;
    boolean created = false;
    try {
      domain = domains.get(caller, name);
      if (!domain.uuid().equalsIgnoreCase(def.getUuid())) {
        throw new FailedPreconditionException("domain '" + name + "' here has UUID "
            + domain.uuid() + " but the image holds UUID " + def.getUuid()
            + "; undefine it or restore the image under its own domain");
      }
    } catch (CryoException e) {
      if (e.reason() != Reason.DOMAIN_NOT_FOUND) {
        throw e;
      }
      domain = null;
    }
    if (domain != null && domain.state().isActive()) {
      throw new FailedPreconditionException("domain '" + name + "' is " 
          + domain.state().name().toLowerCase() + "; destroy it before restoring onto it");
    }
    if (domain == null) {
      // Defines a new domain: the same rule as DefineDomain for this caller.
      domains.define(caller, def);
      domain = domains.get(caller, name);
      created = true;
    } else if (!DomainXml.format(domain.def()).equals(DomainXml.format(def))) {
      domains.define(caller, def);
      warnings.add("the definition of '" + name + "' was replaced by the one in the image");
    }
    RunningQemu running = null;
    boolean ok = false;
    try (Domain.Job job = domain.beginJob(caller, "restore")) {
      job.onAbort(cancel::cancel);
      if (domain.state().isActive()) {
        throw new FailedPreconditionException("domain '" + name + "' is already running");
      }
      cancel.check();
      clock.mark("define");
      running = domains.launch(domain, QemuCommandLine.Incoming.DEFER);
      clock.mark("launch");
      domains.setState(domain, DomainState.PAUSED, StateReason.MIGRATION, null);
      Loading loading = new Loading(domain, job, running, reader, options, cancel, warnings,
          clock);
      boolean raw = reader.header().compression() == Compression.RAW;
      RestoreResult result = file != null && raw ? loadFile(loading, file)
          : load(loading, trailer, raw && image instanceof ChunkedImageStream chunks ? chunks
              : null);
      ok = true;
      return result;
    } finally {
      if (!ok) {
        if (running != null) {
          domains.abortLaunch(domain, running);
        }
        if (created) {
          try {
            domains.undefine(caller, name, false);
          } catch (RuntimeException e) {
            log.error("could not undefine '{}' after its failed restore", name, e);
          }
        }
      }
    }
  }

  /** One restore in progress: what loading the image into the new QEMU works with. */
  private record Loading(Domain domain, Domain.Job job, RunningQemu running,
      SaveImageReader reader, RestoreOptions options, Cancel cancel, List<String> warnings,
      PhaseClock clock) {}

  /**
   * Feeds the image's payload into a Unix socket the new QEMU listens on.
   *
   * @param chunks the client's stream of a raw image, whose buffers are written and hashed as
   *     they are, without a copy; null to read {@link SaveImageReader#payload()}
   */
  private RestoreResult load(Loading l, Supplier<Optional<ImageXml.Digest>> trailer,
      ChunkedImageStream chunks) {
    QemuMonitor qmp = l.running().monitor();
    Cancel cancel = l.cancel();
    Path socket = l.domain().runDir().path().resolve("restore.sock");
    long rawBytes = 0;
    IOException qemuSide = null;
    try {
      Files.deleteIfExists(socket);
      setupMigration(qmp, false);
      CompletableFuture<QemuEvent.Migration> end = qmp.nextEvent(QemuEvent.Migration.class,
          e -> MIGRATION_DONE.contains(e.status()));
      qmp.migrateIncoming("unix:" + socket);
      try (SocketChannel out = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
        // A few MiB in flight instead of the default 208 KiB: QEMU then finds its next bytes
        // waiting instead of polling for each few KiB (its CPU for a 600 MB restore fell from
        // 0.7-1.35 to 0.5 s). The kernel caps this at net.core.wmem_max.
        out.setOption(java.net.StandardSocketOptions.SO_SNDBUF, RESTORE_SOCKET_BUFFER);
        cancel.closeOnCancel(out);
        InputStream payload = l.reader().payload();
        byte[] buf = chunks == null ? new byte[IO_BUFFER] : null;
        while (true) {
          ByteBuffer[] bufs;
          ChunkedImageStream.Piece piece = null;
          if (chunks == null) {
            int n = payload.readNBytes(buf, 0, buf.length);
            if (n <= 0) {
              break;
            }
            bufs = new ByteBuffer[] {ByteBuffer.wrap(buf, 0, n)};
            rawBytes += n;
          } else {
            piece = l.reader().nextPiece(chunks);
            if (piece == null) {
              break;
            }
            bufs = piece.views();
            rawBytes += piece.size();
          }
          l.job().progress("memory", rawBytes, 0);
          try {
            qemuSide = writeFully(out, bufs, qemuSide, cancel);
          } finally {
            if (piece != null) {
              // Hashed after QEMU has it; the digest thread hands the buffers back.
              l.reader().storedPiece(piece);
            }
          }
        }
        cancel.check();
        if (qemuSide == null) {
          out.shutdownOutput();
        }
      }
      PayloadSummary summary = l.reader().finish(rawBytes);
      return finishLoad(l, summary, expected(l.reader().trailer(), l.reader(), trailer.get()),
          end, qemuSide != null);
    } catch (IOException | RuntimeException e) {
      throw translate(e, cancel, "restore domain '" + l.domain().name() + "'");
    } finally {
      try {
        Files.deleteIfExists(socket);
      } catch (IOException e) {
        log.warn("could not remove {}", socket, e);
      }
    }
  }

  /**
   * Writes {@code bufs} to QEMU unless it already stopped reading.
   *
   * @return the error that made QEMU's side stop: null while it still reads. The image is
   *     consumed to its end regardless, so that the digest can say whether the bytes were at
   *     fault.
   */
  private static IOException writeFully(SocketChannel out, ByteBuffer[] bufs,
      IOException qemuSide, Cancel cancel) {
    if (qemuSide != null) {
      return qemuSide;
    }
    try {
      long left = 0;
      for (ByteBuffer b : bufs) {
        left += b.remaining();
      }
      while (left > 0) {
        left -= out.write(bufs);
      }
      return null;
    } catch (IOException e) {
      cancel.check();
      return e;
    }
  }

  /**
   * Restores a raw image file by giving QEMU the file's descriptor, positioned at the payload
   * ({@code getfd} + {@code migrate-incoming fd:NAME}), as libvirt does. The server reads the
   * file alongside, with positional reads that do not move QEMU's offset, only to hash it.
   */
  private RestoreResult loadFile(Loading l, Path file) {
    QemuMonitor qmp = l.running().monitor();
    long offset = l.reader().header().payloadOffset();
    try {
      Optional<ImageTrailer> fileTrailer = SaveImageFile.trailer(file, l.reader().header());
      setupMigration(qmp, false);
      CompletableFuture<QemuEvent.Migration> end = qmp.nextEvent(QemuEvent.Migration.class,
          e -> MIGRATION_DONE.contains(e.status()));
      try (java.io.FileInputStream qemuSide = new java.io.FileInputStream(file.toFile())) {
        qemuSide.getChannel().position(offset);
        qmp.getfd("cryo-image", qemuSide.getFD());
      }
      qmp.migrateIncoming("fd:cryo-image");
      PayloadSummary summary;
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
          ParallelSha256 sha = new ParallelSha256()) {
        // QEMU stops reading at the end of its stream; the trailer after it is not hashed.
        long total = fileTrailer.map(ImageTrailer::payloadBytes).orElse(ch.size() - offset);
        ByteBuffer buf = ByteBuffer.allocate(IO_BUFFER);
        long pos = offset;
        while (true) {
          l.cancel().check();
          buf.clear();
          buf.limit((int) Math.min(buf.capacity(), offset + total - pos));
          int n = buf.hasRemaining() ? ch.read(buf, pos) : -1;
          if (n < 0) {
            break;
          }
          sha.update(buf.array(), 0, n);
          pos += n;
          l.job().progress("memory", pos - offset, total);
        }
        summary = new PayloadSummary(sha.finish(), pos - offset, pos - offset);
      }
      return finishLoad(l, summary, expected(fileTrailer, l.reader(), Optional.empty()), end,
          false);
    } catch (IOException | RuntimeException e) {
      throw translate(e, l.cancel(), "restore domain '" + l.domain().name() + "'");
    }
  }

  /** A digest the payload must match, and where it was found. */
  private record Expected(String source, ImageXml.Digest digest) {}

  /** Every digest there is for an image's payload: its trailer, its XML's, the client's. */
  private static List<Expected> expected(Optional<ImageTrailer> imageTrailer,
      SaveImageReader reader, Optional<ImageXml.Digest> sent) {
    List<Expected> all = new ArrayList<>();
    imageTrailer.ifPresent(t -> all.add(new Expected("the image's trailer", t.digest())));
    reader.storedDigest().ifPresent(d -> all.add(new Expected("the image's XML", d)));
    sent.ifPresent(d -> all.add(new Expected("the trailer message of the call", d)));
    return all;
  }

  /**
   * Checks the digests, waits for QEMU to have loaded the image, then starts the domain. Nothing
   * runs the guest's CPUs before every digest matched.
   */
  private RestoreResult finishLoad(Loading l, PayloadSummary summary, List<Expected> expected,
      CompletableFuture<QemuEvent.Migration> end, boolean qemuStoppedReading)
      throws IOException {
    Domain domain = l.domain();
    RunningQemu running = l.running();
    l.clock().mark("transfer");
    for (Expected e : expected) {
      if (!e.digest().sha256().equals(summary.sha256())
          || e.digest().payloadBytes() != summary.storedBytes()) {
        throw new CryoException(
            Reason.IMAGE_DIGEST_MISMATCH,
            "the save image is corrupt: its payload's SHA-256 is "
                + summary.sha256()
                + " over "
                + summary.storedBytes()
                + " bytes but "
                + e.source()
                + " records "
                + e.digest().sha256()
                + " over "
                + e.digest().payloadBytes()
                + " bytes; the guest was not started");
      }
    }
    boolean verified = !expected.isEmpty();
    if (!verified) {
      requireVerifiable(l.options(), "it carries no digest and the restore sent none");
      l.warnings().add("the image carries no SHA-256 digest (written by libvirt, or by a Cryo "
          + "older than digest trailers) and none was sent; it was restored without an "
          + "integrity check");
    }
    QemuEvent.Migration last = await(running.monitor(), end,
        "QEMU to load the image of '" + domain.name() + "'");
    l.clock().mark("qemu-done");
    if (!"completed".equals(last.status()) || qemuStoppedReading) {
      String detail = running.process().logTail();
      if (verified) {
        throw new FailedPreconditionException("the image is intact but QEMU could not load it "
            + "(different machine type or devices?): " + lastLine(detail));
      }
      throw new DataLossException("QEMU could not load the migration stream; the image is "
          + "truncated or corrupt: " + lastLine(detail));
    }
    // Past here the guest is whole: an abort would only throw away a finished restore.
    l.job().onAbort(null);
    Start start = l.options().start();
    boolean run = start == Start.RUNNING
        || (start == Start.AS_SAVED && l.reader().header().wasRunning());
    if (run) {
      running.monitor().cont();
      domains.setState(domain, DomainState.RUNNING, StateReason.RESTORED,
          DomainEvent.Type.STARTED);
    } else {
      domains.setState(domain, DomainState.PAUSED, StateReason.RESTORED,
          DomainEvent.Type.STARTED);
    }
    l.clock().mark("start");
    log.info("restored '{}' ({} {} bytes) in {}", domain.name(),
        l.reader().header().compression().label(), summary.storedBytes(), l.clock());
    return new RestoreResult(domains.info(domain), l.warnings(), verified,
        summary.storedBytes(), l.clock().elapsed());
  }

  private static String lastLine(String log) {
    String[] lines = log.strip().split("\n");
    return lines[lines.length - 1];
  }

  /** Checks a replacement XML against the image's: same domain, same guest shape. */
  private static DomainDef compatible(DomainDef image, DomainDef replacement) {
    List<String> diffs = new ArrayList<>();
    if (!image.getName().equals(replacement.getName())) {
      diffs.add("name '" + replacement.getName() + "' != '" + image.getName() + "'");
    }
    if (!image.getUuid().equalsIgnoreCase(replacement.getUuid())) {
      diffs.add("uuid " + replacement.getUuid() + " != " + image.getUuid());
    }
    if (image.memoryBytes() != replacement.memoryBytes()) {
      diffs.add("memory " + replacement.memoryBytes() + " != " + image.memoryBytes() + " bytes");
    }
    if (image.vcpus() != replacement.vcpus()) {
      diffs.add("vcpus " + replacement.vcpus() + " != " + image.vcpus());
    }
    if (!String.valueOf(image.machine()).equals(String.valueOf(replacement.machine()))) {
      diffs.add("machine " + replacement.machine() + " != " + image.machine());
    }
    if (!diffs.isEmpty()) {
      throw new InvalidArgumentException("the replacement XML is not compatible with the image: "
          + String.join(", ", diffs));
    }
    return replacement;
  }

  // ---- facts -------------------------------------------------------------------------------

  /**
   * The facts of an image file.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public SaveImageFile.Info info(Principal caller, Path path) {
    requireSeesImageAt(caller, path);
    try {
      return SaveImageFile.info(path);
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * The facts of an image from its first bytes: its digest only if its XML records one (the
   * trailer is at the end), verifiable if either is there.
   */
  public SaveImageFile.Info info(byte[] head) {
    try {
      SaveImageReader r = SaveImageReader.open(new java.io.ByteArrayInputStream(head));
      return new SaveImageFile.Info(r.xml(), r.parsed().def(), r.header().wasRunning(),
          r.header().compression(), r.header().payloadOffset(), 0, r.storedDigest(),
          r.header().trailer() || r.storedDigest().isPresent());
    } catch (IOException e) {
      throw new InternalException("could not read the image head", e);
    }
  }

  /**
   * Replaces the XML of the image file at {@code path}; returns the XML as stored.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public String updateXml(Principal caller, Path path, String xml) {
    requireSeesImageAt(caller, path);
    try {
      return SaveImageFile.updateXml(path, xml);
    } catch (IOException e) {
      throw new InternalException("could not update " + path + ": " + e.getMessage(), e);
    }
  }

  // ---- whose image -------------------------------------------------------------------------

  /**
   * The name of the domain in an image's own XML, even where Cryo cannot run that XML (a libvirt
   * device it does not model); null if the XML names none.
   */
  private static String imageDomainName(SaveImageReader reader) {
    try {
      return reader.parsed().def().getName();
    } catch (CryoException e) {
      try {
        return SecureXml.unmarshal(reader.xml(), DomainDef.class, "domain").getName();
      } catch (CryoException unreadable) {
        return null;
      }
    }
  }

  /**
   * Refuses an image whose domain {@code caller} does not see, as NOT_FOUND: for this caller the
   * image does not exist, whether or not its domain does here. An image that names no domain
   * is refused to every caller restricted to some domains.
   */
  private static void requireSees(Principal caller, String imageDomain) {
    if (imageDomain == null ? !caller.domains().isEmpty() : !caller.sees(imageDomain)) {
      throw new CryoException(
          Reason.IMAGE_NOT_FOUND, "no save image of a domain you may use there");
    }
  }

  private static void requireSeesImageAt(Principal caller, Path path) {
    if (caller.domains().isEmpty()) {
      return;
    }
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), 128 * 1024);
        SaveImageReader reader = SaveImageReader.open(in)) {
      requireSees(caller, imageDomainName(reader));
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }
}
