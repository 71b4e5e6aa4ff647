package dev.cryo.server.jobs;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.image.Compression;
import dev.cryo.server.image.ImageTrailer;
import dev.cryo.server.image.ImageXml;
import dev.cryo.server.image.ParallelSha256;
import dev.cryo.server.image.PayloadSummary;
import dev.cryo.server.image.PhaseClock;
import dev.cryo.server.image.SaveImageFile;
import dev.cryo.server.image.SaveImageHeader;
import dev.cryo.server.image.SaveImageWriter;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.store.AtomicFile;
import dev.cryo.server.store.ObjectStore;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import org.newsclub.net.unix.AFUNIXSocketChannel;
import org.newsclub.net.unix.AFUNIXSocketPair;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Saving a running domain into a libvirt-format save image: to a file on the server, to the
 * caller's stream, or to an object in the object store.
 *
 * <p>QEMU migrates into a descriptor the server hands it (no {@code exec:}, no shell): a raw
 * image file's own descriptor, which QEMU writes while the server hashes behind it, or one end of
 * a socket pair whose other end the server reads, compresses, hashes and writes to the sink. Once
 * QEMU reports the migration complete the sink is made whole (file: fsync, magic flipped,
 * renamed; object: upload completed) and the domain is stopped, resumed or left paused as asked.
 * A failed or cancelled save cancels QEMU's migration and lets the guest go on as before.
 *
 * <p>Every method blocks the calling thread, which must be one the caller owns (the gRPC adapter
 * runs them on its own executor), and holds the domain's job while it works. Every method takes
 * the caller's {@link Principal}: a domain the caller does not see does not exist for it
 * (NOT_FOUND); its jobs count against the caller's limit.
 */
public final class SaveJob {
  private static final Logger log = LoggerFactory.getLogger(SaveJob.class);
  private static final int IO_BUFFER = 1 << 20;
  private static final Duration PROGRESS_INTERVAL = Duration.ofMillis(250);
  private static final long SYNC_EVERY = 64L << 20;

  private final Domains domains;
  /** The server's object store, or null if it has none. */
  private final ObjectStore objects;

  SaveJob(Domains domains, ObjectStore objects) {
    this.domains = domains;
    this.objects = objects;
  }

  // ---- options and results -----------------------------------------------------------------

  /** What happens to the domain once its image is complete. */
  public enum After {
    STOP,
    CONTINUE,
    PAUSED
  }

  /** How to save. */
  public record Options(Compression compression, int level, After after, boolean live) {
    public Options {
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
  public record Result(long imageBytes, PayloadSummary payload, Duration duration,
      Duration downtime, Path path, DomainInfo domain, String imageXml) {}

  // ---- the three sinks ---------------------------------------------------------------------

  /**
   * Saves {@code name} into the file {@code path} (already checked against the image folders):
   * written under a temporary name, made durable (fsync), its magic flipped to complete, then
   * renamed over {@code path}. On failure or cancel the temporary file is removed and an existing
   * file at {@code path} is left as it was.
   *
   * <p>A raw image is written by QEMU itself into the file's descriptor, as libvirt does, while
   * the server hashes behind it; a compressed one goes through the server's codec.
   */
  public Result toFile(Principal caller, String name, Path path, Options options,
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
      Result result = save(caller, name, options, progress, cancel, transfer, completion, path);
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
  public Result toStream(Principal caller, String name, OutputStream out, Options options,
      ProgressListener progress, Cancel cancel) {
    return save(caller, name, options, progress, cancel, m -> throughCodec(m, out, true, options),
        (imageXml, written) -> { }, null);
  }

  /**
   * Saves {@code name} into the object {@code loc} as one multipart upload, in a stream's format
   * (complete header, digest trailer), with memory bounded by a few parts and no local file. The
   * upload starts before the guest is touched, so bad credentials or a missing bucket change
   * nothing; on any later failure it is aborted, no object appears, and the guest goes on.
   *
   * @throws FailedPreconditionException if the server has no object store
   */
  public Result toObject(Principal caller, String name, ObjectStore.Location loc,
      Options options, ProgressListener progress, Cancel cancel) {
    domains.get(caller, name);
    try (ObjectStore.Upload upload = ImageJobs.require(objects).startUpload(loc)) {
      return save(caller, name, options, progress, cancel, m -> {
        Written w = throughCodec(m, upload, true, options);
        upload.finishParts();
        return w;
      }, (imageXml, written) -> upload.complete(), null);
    }
  }

  // ---- the save ----------------------------------------------------------------------------

  /**
   * An image's header as written, its payload's digest and sizes, and the stored bytes of the
   * digest trailer after the payload.
   */
  private record Written(SaveImageHeader header, PayloadSummary payload, int trailerBytes) {}

  /** Points QEMU's migration at a sink and moves the image; returns when the stream ended. */
  private interface Transfer {
    Written run(Outgoing m) throws IOException;
  }

  /** Makes the written image whole once QEMU reported the migration complete. */
  private interface Completion {
    /** @param imageXml the image's XML with its digest, as the file holds it */
    void complete(String imageXml, Written written) throws IOException;
  }

  /** One outgoing migration: what a {@link Transfer} needs to start it and report on it. */
  private record Outgoing(QemuMonitor qmp, String xml, boolean wasRunning, long total,
      CompletableFuture<QemuEvent.Migration> end, ProgressListener progress, Cancel cancel) {}

  private Result save(Principal caller, String name, Options options,
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
        QemuMigration.setUp(qmp, true);
        if (wasRunning && !options.live()) {
          qmp.stop();
          stoppedAt = System.nanoTime();
          domains.setState(domain, DomainState.PAUSED, StateReason.SAVED,
              DomainEvent.Type.SUSPENDED);
        }
        CompletableFuture<QemuEvent.Migration> end = QemuMigration.nextEnd(qmp);
        clock.mark("setup");
        ProgressListener reported = (phase, done, estimated, rate) -> {
          job.progress("memory", done, estimated);
          progress.progress(phase, done, estimated, rate);
        };
        Written written = transfer.run(new Outgoing(qmp, xml, wasRunning, total, end, reported,
            cancel));
        clock.mark("transfer");
        QemuEvent.Migration last = QemuMigration.await(qmp, end,
            "QEMU to finish the migration of '" + name + "'");
        if (!"completed".equals(last.status())) {
          throw new InternalException("QEMU's migration of '" + name + "' ended "
              + last.status() + ": " + QemuMigration.error(qmp));
        }
        if (stoppedAt == 0) {
          stoppedAt = System.nanoTime() - QemuMigration.downtimeNanos(qmp);
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
        return new Result(written.header().payloadOffset() + written.payload().storedBytes()
            + written.trailerBytes(),
            written.payload(), clock.elapsed(), Duration.ofNanos(System.nanoTime() - stoppedAt),
            path, info, imageXml);
      } catch (IOException | RuntimeException e) {
        if (!completed) {
          undo(domain, running, wasRunning, stoppedAt != 0 || options.live());
        } else if (!afterApplied) {
          undo(domain, running, wasRunning, true);
        }
        throw cancel.failure(e, "save domain '" + name + "'");
      } catch (Error e) {
        // Even out of memory in a codec, the guest must not be left paused mid-migration.
        if (!completed) {
          undo(domain, running, wasRunning, stoppedAt != 0 || options.live());
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
  private static Written throughCodec(Outgoing m, OutputStream out, boolean completeMagic,
      Options options) throws IOException {
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
      QemuMigration.startToFd(m.qmp(), "cryo-save-stream");
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
  private static Written qemuWritesFile(Outgoing m, RandomAccessFile file) throws IOException {
    FileChannel ch = file.getChannel();
    SaveImageHeader header = SaveImageWriter.writeHead(Channels.newOutputStream(ch), m.xml(),
        m.wasRunning(), Compression.RAW, false);
    long offset = header.payloadOffset();
    m.qmp().getfd("cryo-save", file.getFD());
    QemuMigration.startToFd(m.qmp(), "cryo-save");
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
          LockSupport.parkNanos(500_000);
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
  private void undo(Domain domain, RunningQemu running, boolean wasRunning,
      boolean mayBeStopped) {
    QemuMonitor qmp = running.monitor();
    try {
      QemuMigration.cancelIfRunning(qmp);
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
}
