package dev.cryo.server.jobs;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.CpuDef;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.PciAddresses;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.image.ChunkedImageStream;
import dev.cryo.server.image.Compression;
import dev.cryo.server.image.ImageTrailer;
import dev.cryo.server.image.ImageXml;
import dev.cryo.server.image.ParallelSha256;
import dev.cryo.server.image.PayloadSummary;
import dev.cryo.server.image.PhaseClock;
import dev.cryo.server.image.SaveImageFile;
import dev.cryo.server.image.SaveImageReader;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.store.ObjectStore;
import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Restoring a domain from a libvirt-format save image: from the caller's stream, from a file on
 * the server, or from an object in the object store.
 *
 * <p>The image's header and XML decide which domain it is (the caller must see it; a
 * replacement XML must fit the image's guest), the domain is defined if it is new, and a new
 * QEMU ({@code -S}, {@code -incoming defer}) is launched. The payload then goes to QEMU through
 * a Unix socket it listens on, or, for a raw image file, as the file's own descriptor; the
 * server hashes it on the way. The guest stays paused until the whole image has arrived and
 * every digest there is for it matched. Any failure kills that QEMU and undefines a domain the
 * restore defined.
 *
 * <p>Every method blocks the calling thread, which must be one the caller owns, holds the
 * domain's job while it works, and takes the caller's {@link Principal}: an image holding a
 * domain the caller does not see does not exist for it (NOT_FOUND).
 */
public final class RestoreJob {
  private static final Logger log = LoggerFactory.getLogger(RestoreJob.class);
  private static final int IO_BUFFER = 1 << 20;
  /** Send buffer of the socket a restore feeds QEMU through. */
  private static final int RESTORE_SOCKET_BUFFER = 4 << 20;

  private final Domains domains;
  private final boolean requireVerifiedImages;
  /** The server's object store, or null if it has none. */
  private final ObjectStore objects;

  RestoreJob(Domains domains, boolean requireVerifiedImages, ObjectStore objects) {
    this.domains = domains;
    this.requireVerifiedImages = requireVerifiedImages;
    this.objects = objects;
  }

  // ---- options and results -----------------------------------------------------------------

  /** How a restored domain starts. */
  public enum Start {
    AS_SAVED,
    RUNNING,
    PAUSED
  }

  /**
   * How to restore.
   *
   * @param requireVerified refuse an image whose payload cannot be checked against a digest
   */
  public record Options(Start start, String replacementXml, boolean requireVerified) {
    public Options(Start start, String replacementXml) {
      this(start, replacementXml, false);
    }
  }

  /**
   * The outcome of a restore.
   *
   * @param verified whether the payload matched a digest
   * @param warnings e.g. that there was no digest to check
   */
  public record Result(DomainInfo domain, List<String> warnings, boolean verified,
      long payloadBytes, Duration duration) {}

  // ---- the three sources -------------------------------------------------------------------

  /**
   * Restores from an image arriving on {@code image} (the caller's stream).
   *
   * @param trailer the digest the client sent after the image, read once {@code image} ended
   */
  public Result fromStream(Principal caller, ChunkedImageStream image,
      Supplier<Optional<ImageXml.Digest>> trailer, Options options, Cancel cancel) {
    return run(caller, image, trailer, options, cancel, null, null);
  }

  /**
   * Restores from an image file on the server (already checked against the image folders).
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public Result fromFile(Principal caller, Path path, Options options, Cancel cancel) {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), IO_BUFFER)) {
      return run(caller, in, Optional::empty, options, cancel, null, path);
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * Restores from the object {@code loc}, read with one GET as it arrives and verified against
   * its trailer before the guest runs, as a streamed image is.
   *
   * @throws FailedPreconditionException if the server has no object store
   */
  public Result fromObject(Principal caller, ObjectStore.Location loc, Options options,
      Cancel cancel) {
    InputStream object = ImageJobs.require(objects).read(loc);
    cancel.closeOnCancel(object);
    try (InputStream in = new BufferedInputStream(object, IO_BUFFER)) {
      return run(caller, in, Optional::empty, options, cancel, null, null);
    } catch (IOException e) {
      throw new InternalException("could not read " + loc.uri() + ": " + e.getMessage(), e);
    }
  }

  // ---- the restore -------------------------------------------------------------------------

  /**
   * Restores the image {@code image} reads.
   *
   * @param expectedName the domain the image must hold (a managed save's), or null for any
   * @param file the image file {@code image} reads, or null for a stream: a raw image file is
   *     handed to QEMU itself (its descriptor, positioned at the payload), with no copy loop
   */
  Result run(Principal caller, InputStream image, Supplier<Optional<ImageXml.Digest>> trailer,
      Options options, Cancel cancel, String expectedName, Path file) {
    PhaseClock clock = new PhaseClock();
    SaveImageReader reader;
    try {
      reader = SaveImageReader.open(image);
    } catch (IOException e) {
      throw cancel.failure(e, "read the save image");
    }
    try (reader) {
      return run(caller, image, reader, trailer, options, cancel, expectedName, file, clock);
    }
  }

  private Result run(Principal caller, InputStream image, SaveImageReader reader,
      Supplier<Optional<ImageXml.Digest>> trailer, Options options, Cancel cancel,
      String expectedName, Path file, PhaseClock clock) {
    // The image's own domain decides, before any replacement XML: a caller must not load
    // another tenant's memory, not even under a name of its own.
    ImageFacts.requireSees(caller, reader);
    if (file != null && !reader.header().trailer() && reader.storedDigest().isEmpty()) {
      // Known before QEMU starts: a file without any digest (a stream may still send one).
      try {
        if (SaveImageFile.trailer(file, reader.header()).isEmpty()) {
          requireVerifiable(options, "it carries no digest: written by libvirt, or by a Cryo "
              + "older than digest trailers");
        }
      } catch (IOException e) {
        throw cancel.failure(e, "read the save image");
      }
    }
    List<String> warnings = new ArrayList<>();
    DomainDef def = definition(reader, options.replacementXml(), warnings);
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
      Result result = file != null && raw ? loadFile(loading, file)
          : loadThroughSocket(loading, trailer,
              raw && image instanceof ChunkedImageStream chunks ? chunks : null);
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

  /**
   * The definition a restore uses: the image's own, or the caller's replacement XML checked
   * against it. An image from libvirt with a device Cryo does not model (e.g. a Unix-socket
   * serial) has no usable XML of its own; the replacement then stands in unchecked, as libvirt's
   * dxml does, with a warning.
   */
  private static DomainDef definition(SaveImageReader reader, String replacementXml,
      List<String> warnings) {
    boolean replaced = replacementXml != null && !replacementXml.isBlank();
    try {
      DomainDef def = ImageXml.withoutDigest(reader.parsed().def());
      return replaced ? compatible(def, DomainXml.parse(replacementXml).def()) : def;
    } catch (CryoException e) {
      if (!replaced || e.reason() != Reason.IMAGE_XML_INVALID) {
        throw e;
      }
      DomainDef def = DomainXml.parse(replacementXml).def();
      warnings.add("the image's own XML is not usable by Cryo (" + e.getMessage()
          + "); the replacement XML was used without a compatibility check");
      return def;
    }
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
    // The migration stream holds the CPU's state and the ACPI device: QEMU cannot load it into
    // another CPU model, topology or ACPI setting.
    if (!cpu(image).equals(cpu(replacement))) {
      diffs.add("cpu " + cpu(replacement) + " != " + cpu(image));
    }
    if (acpi(image) != acpi(replacement)) {
      diffs.add("acpi " + (acpi(replacement) ? "on" : "off") + " != "
          + (acpi(image) ? "on" : "off"));
    }
    diffs.addAll(PciAddresses.inherit(image, replacement));
    if (!diffs.isEmpty()) {
      throw new InvalidArgumentException("the replacement XML is not compatible with the image: "
          + String.join(", ", diffs));
    }
    return replacement;
  }

  /** A definition's CPU as QEMU gets it, e.g. {@code custom Westmere Topology[sockets=1, ...]}. */
  private static String cpu(DomainDef def) {
    CpuDef cpu = def.getCpu();
    return cpu == null ? "QEMU's default" : cpu.getMode()
        + (cpu.getModel() == null ? "" : " " + cpu.getModel())
        + (cpu.topology() == null ? "" : " " + cpu.topology());
  }

  private static boolean acpi(DomainDef def) {
    return def.getFeatures() == null || def.getFeatures().isAcpi();
  }

  /**
   * Refuses an unverifiable image if the server or the request requires verified images.
   *
   * @param why why the image cannot be verified
   */
  private void requireVerifiable(Options options, String why) {
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

  // ---- into QEMU ---------------------------------------------------------------------------

  /** One restore in progress: what loading the image into the new QEMU works with. */
  private record Loading(Domain domain, Domain.Job job, RunningQemu running,
      SaveImageReader reader, Options options, Cancel cancel, List<String> warnings,
      PhaseClock clock) {}

  /**
   * Feeds the image's payload into a Unix socket the new QEMU listens on.
   *
   * @param chunks the client's stream of a raw image, whose buffers are written and hashed as
   *     they are, without a copy; null to read {@link SaveImageReader#payload()}
   */
  private Result loadThroughSocket(Loading l, Supplier<Optional<ImageXml.Digest>> trailer,
      ChunkedImageStream chunks) {
    QemuMonitor qmp = l.running().monitor();
    Cancel cancel = l.cancel();
    Path socket = l.domain().runDir().path().resolve("restore.sock");
    long rawBytes = 0;
    IOException qemuSide = null;
    try {
      Files.deleteIfExists(socket);
      QemuMigration.setUp(qmp, false);
      CompletableFuture<QemuEvent.Migration> end = QemuMigration.nextEnd(qmp);
      qmp.migrateIncoming("unix:" + socket);
      try (SocketChannel out = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
        // A few MiB in flight instead of the default 208 KiB: QEMU then finds its next bytes
        // waiting instead of polling for each few KiB (its CPU for a 600 MB restore fell from
        // 0.7-1.35 to 0.5 s). The kernel caps this at net.core.wmem_max.
        out.setOption(StandardSocketOptions.SO_SNDBUF, RESTORE_SOCKET_BUFFER);
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
      throw cancel.failure(e, "restore domain '" + l.domain().name() + "'");
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
  private Result loadFile(Loading l, Path file) {
    QemuMonitor qmp = l.running().monitor();
    long offset = l.reader().header().payloadOffset();
    try {
      Optional<ImageTrailer> fileTrailer = SaveImageFile.trailer(file, l.reader().header());
      QemuMigration.setUp(qmp, false);
      CompletableFuture<QemuEvent.Migration> end = QemuMigration.nextEnd(qmp);
      try (FileInputStream qemuSide = new FileInputStream(file.toFile())) {
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
      throw l.cancel().failure(e, "restore domain '" + l.domain().name() + "'");
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
  private Result finishLoad(Loading l, PayloadSummary summary, List<Expected> expected,
      CompletableFuture<QemuEvent.Migration> end, boolean qemuStoppedReading) {
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
    QemuEvent.Migration last = QemuMigration.await(running.monitor(), end,
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
    return new Result(domains.info(domain), l.warnings(), verified, summary.storedBytes(),
        l.clock().elapsed());
  }

  private static String lastLine(String log) {
    String[] lines = log.strip().split("\n");
    return lines[lines.length - 1];
  }
}
