package dev.cryo.cli;

import dev.cryo.client.BackupExtent;
import dev.cryo.client.BackupJob;
import dev.cryo.client.BackupOptions;
import dev.cryo.client.Backups;
import dev.cryo.client.CryoClient;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cryo backup DOMAIN}: a full or incremental backup of a running domain's disks, streamed
 * to this machine and applied to local raw files.
 */
@Command(name = "backup",
    description = {"Back up a running domain's disks into local raw files: a full backup, or "
        + "with --incremental only what changed since a checkpoint, applied onto the file the "
        + "previous backup wrote. --checkpoint creates a checkpoint at the backup's instant, "
        + "the start of the next incremental.",
        "Files: --to FILE for one disk (FILE.DISK for several; default DOMAIN.DISK.raw), or - "
            + "for standard output (full backup of one disk). Files change only when the "
            + "backup completes; Ctrl-C leaves them as they were."})
final class BackupCommand extends DomainArgument {
  private static final int ZERO_CHUNK = 1 << 20;

  @Option(names = "--incremental", paramLabel = "CHECKPOINT",
      description = "Only the blocks written since this checkpoint.")
  String since;

  @Option(names = "--checkpoint", paramLabel = "NAME",
      description = "Create this checkpoint at the backup's instant.")
  String checkpoint;

  @Option(names = "--to", paramLabel = "FILE|-", description = "Where the disk goes.")
  String to;

  @Option(names = "--disk", paramLabel = "TARGET", split = ",",
      description = "Only these disks, e.g. vda (default: every eligible disk).")
  List<String> disks = List.of();

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    boolean toStdout = "-".equals(to);
    if (toStdout && since != null) {
      throw new CliException(ExitCodes.USAGE, "an incremental backup applies onto an existing "
          + "file; give --to FILE, not -", null);
    }
    BackupOptions options = new BackupOptions(since, checkpoint == null ? null
        : "<domaincheckpoint><name>" + CheckpointCreateCommand.escape(checkpoint)
            + "</name></domaincheckpoint>", disks);
    BackupJob job;
    long diskBytes;
    try (Receiver receiver = toStdout ? new StdoutReceiver() : new FileReceiver()) {
      try {
        job = cryo.backups().stream(domain, options, receiver);
      } catch (dev.cryo.client.CryoException e) {
        // The SDK reports a failed receiver as UNKNOWN; say what failed here instead.
        if (receiver.failure instanceof CliException ce) {
          throw ce;
        }
        if (receiver.failure != null) {
          throw new CliException(ExitCodes.FAILURE, "could not write the backup: "
              + receiver.failure.getMessage(), receiver.failure);
        }
        throw e;
      }
      receiver.commit();
      diskBytes = receiver.diskBytes;
    }
    Output report = toStdout ? new Output(out.json(), System.err) : out;
    if (report.json()) {
      report.json(Output.backupJob(job));
    } else {
      // Bytes sent are the data extents (what the server counts); zeros are only described.
      report.line("Backup of domain '" + domain + "' " + Output.lower(job.state().name())
          + " (" + (since == null ? "full, " + Progress.bytes(diskBytes) + " of disk"
              : "incremental since " + since) + ", " + Progress.bytes(job.bytesDone())
          + " of data sent)"
          + (job.checkpoint() == null ? "" : "; checkpoint " + job.checkpoint() + " created"));
    }
    report.flush();
    return ExitCodes.OK;
  }

  /** A receiver that makes its output visible only on {@link #commit}. */
  private abstract class Receiver implements Backups.Receiver, AutoCloseable {
    Progress progress;
    /** The disks' virtual sizes added up; set by {@link #begin}. */
    long diskBytes;
    /** What failed on this side, if anything; set on the calling thread. */
    Exception failure;

    @Override
    public final void begin(Map<String, Long> diskSizes, long dataBytes) throws IOException {
      try {
        diskBytes = diskSizes.values().stream().mapToLong(Long::longValue).sum();
        start(diskSizes);
        // The header is the server's first answer: the backup was accepted, progress may show.
        progress = Progress.onStderr("backing up " + domain, dataBytes);
        progress.accepted();
      } catch (IOException | RuntimeException e) {
        failure = e;
        throw e;
      }
    }

    @Override
    public final void extent(BackupExtent e) throws IOException {
      try {
        write(e);
      } catch (IOException | RuntimeException x) {
        failure = x;
        throw x;
      }
    }

    abstract void start(Map<String, Long> diskSizes) throws IOException;

    abstract void write(BackupExtent e) throws IOException;

    abstract void commit() throws IOException;

    @Override
    public void close() {
      if (progress != null) {
        progress.close();
      }
    }
  }

  /** Writes each disk into a temporary copy beside its file; renames them all at the end. */
  private final class FileReceiver extends Receiver {
    private final Map<String, Path> targets = new LinkedHashMap<>();
    private final Map<String, Path> temps = new LinkedHashMap<>();
    private final Map<String, FileChannel> channels = new LinkedHashMap<>();
    private final Thread cleanupOnExit = new Thread(this::discard, "discard-partial-backup");
    /** Guarded by {@code this}. */
    private boolean done;

    FileReceiver() {
      Runtime.getRuntime().addShutdownHook(cleanupOnExit);
    }

    @Override
    void start(Map<String, Long> diskSizes) throws IOException {
      for (Map.Entry<String, Long> disk : diskSizes.entrySet()) {
        String name = disk.getKey();
        Path target = Path.of(to == null ? domain + "." + name + ".raw"
            : diskSizes.size() == 1 ? to : to + "." + name).toAbsolutePath();
        if (since == null && Files.exists(target)) {
          throw new CliException(ExitCodes.PRECONDITION, target + " exists; a full backup "
              + "writes a new file: remove it or choose another --to", null);
        }
        if (since != null && !Files.isRegularFile(target)) {
          throw new CliException(ExitCodes.INVALID_INPUT, "no " + target + " to apply the "
              + "incremental backup to; run a full backup into it first", null);
        }
        Path temp = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".",
            ".part");
        synchronized (this) {
          temps.put(name, temp);
        }
        targets.put(name, target);
        if (since != null) {
          // The previous backup stays intact until this one is whole.
          Files.copy(target, temp, StandardCopyOption.REPLACE_EXISTING);
        }
        FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE,
            StandardOpenOption.READ);
        channels.put(name, ch);
        long size = disk.getValue();
        if (ch.size() > size) {
          ch.truncate(size);
        } else if (ch.size() < size) {
          ch.write(ByteBuffer.allocate(1), size - 1);
        }
      }
    }

    @Override
    void write(BackupExtent e) throws IOException {
      FileChannel ch = channels.get(e.disk());
      if (ch == null) {
        throw new IOException("extent for unknown disk '" + e.disk() + "'");
      }
      if (e.zero()) {
        if (since != null) {
          // A fresh file reads as zeros already; an older copy must be overwritten.
          ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, e.length()));
          for (long pos = 0; pos < e.length(); pos += zeros.capacity()) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), e.length() - pos));
            writeFully(ch, zeros, e.offset() + pos);
          }
        }
      } else {
        writeFully(ch, ByteBuffer.wrap(e.data()), e.offset());
        // Bytes sent, as the summary counts them: zero extents cost nothing to receive.
        progress.advance(e.length());
      }
    }

    @Override
    synchronized void commit() throws IOException {
      for (FileChannel ch : channels.values()) {
        ch.force(true);
        ch.close();
      }
      for (Map.Entry<String, Path> t : temps.entrySet()) {
        Path target = targets.get(t.getKey());
        try {
          Files.move(t.getValue(), target, StandardCopyOption.ATOMIC_MOVE,
              StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(t.getValue(), target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
      done = true;
    }

    private synchronized void discard() {
      if (done) {
        return;
      }
      done = true;
      for (FileChannel ch : channels.values()) {
        try {
          ch.close();
        } catch (IOException e) {
          // Deleting it next is what matters.
        }
      }
      for (Path temp : temps.values()) {
        try {
          Files.deleteIfExists(temp);
        } catch (IOException e) {
          System.err.println("cryo: could not remove the partial file " + temp + ": " + e);
        }
      }
    }

    @Override
    public void close() {
      super.close();
      discard();
      try {
        Runtime.getRuntime().removeShutdownHook(cleanupOnExit);
      } catch (IllegalStateException e) {
        // Already exiting: the hook runs, discard() is idempotent.
      }
    }
  }

  /** One disk, in offset order, as a raw image on standard output; gaps are zeros. */
  private final class StdoutReceiver extends Receiver {
    private final OutputTarget target = OutputTarget.open("-", false);
    private final OutputStream out = target.stream();
    private final List<String> names = new ArrayList<>();
    private long size;
    private long position;

    @Override
    void start(Map<String, Long> diskSizes) {
      if (diskSizes.size() != 1) {
        throw new CliException(ExitCodes.USAGE, "standard output takes one disk, the domain "
            + "has " + diskSizes.keySet() + "; choose one with --disk", null);
      }
      names.addAll(diskSizes.keySet());
      size = diskSizes.values().iterator().next();
    }

    @Override
    void write(BackupExtent e) throws IOException {
      if (e.offset() < position) {
        throw new IOException("the server sent extents out of order (" + e.offset() + " after "
            + position + "); back up into a file instead");
      }
      zeros(e.offset() - position);
      if (e.zero()) {
        zeros(e.length());
      } else {
        out.write(e.data());
        position += e.data().length;
        progress.advance(e.length());
      }
    }

    private void zeros(long n) throws IOException {
      byte[] zero = new byte[(int) Math.min(ZERO_CHUNK, Math.max(1, n))];
      for (long left = n; left > 0; ) {
        int k = (int) Math.min(zero.length, left);
        out.write(zero, 0, k);
        left -= k;
      }
      position += n;
    }

    @Override
    void commit() throws IOException {
      zeros(size - position);
      target.commit();
    }

    @Override
    public void close() {
      super.close();
      target.close();
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    long p = pos;
    while (b.hasRemaining()) {
      p += ch.write(b, p);
    }
  }
}
