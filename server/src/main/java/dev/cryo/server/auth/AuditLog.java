package dev.cryo.server.auth;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An append-only file of audit records, one JSON object per line, like libvirt's audit records
 * ({@code virDomainAudit*}: who, which VM, what, success or failure). One record per completed
 * call that changes state or reads guest bytes:
 *
 * <pre>
 * {"time":"2026-12-02T07:30:01.123Z","principal":"ops","rpc":"cryo.v1.DomainService/StartDomain",
 *  "domain":"web1","outcome":"OK","peer":"127.0.0.1:50412","millis":812}
 * </pre>
 *
 * <p>{@code outcome} is the gRPC status code name; a failed call adds {@code reason}, the status
 * description (which never holds credentials). {@code principal} is null when the caller could
 * not be authenticated, {@code domain} when the request names none.
 *
 * <p>Callers never wait for the disk: {@link #record} puts the record on a bounded queue and one
 * writer thread appends each batch with a single {@code write} on a file opened {@code O_APPEND}
 * (so lines never interleave with another writer's) and {@code fdatasync}s it. The file is
 * created mode 0600, and made so if it existed. If the disk stalls so long that the queue fills,
 * records are counted, not kept, and a line saying how many were lost is written when it drains.
 */
public final class AuditLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AuditLog.class);
  /** At about 200 bytes a record, a few MiB at most while the disk stalls. */
  private static final int QUEUE_CAPACITY = 16_384;
  private static final int MAX_REASON_CHARS = 300;
  /** Nulls kept, so every line has the same keys; no HTML escaping, so reasons stay legible. */
  private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping()
      .create();
  private static final Set<PosixFilePermission> OWNER_ONLY =
      PosixFilePermissions.fromString("rw-------");

  /**
   * One audited call.
   *
   * @param time when the call ended
   * @param principal the authenticated caller's name, or null if it could not be authenticated
   * @param rpc the full method name, {@code cryo.v1.DomainService/StartDomain}
   * @param domain the domain the call named, or null
   * @param outcome the status code name, {@code OK}, {@code PERMISSION_DENIED}...
   * @param reason the status description of a failed call, or null
   * @param peer the caller's address, or null
   * @param millis how long the call ran
   */
  public record Entry(Instant time, String principal, String rpc, String domain, String outcome,
      String reason, String peer, long millis) {
    public Entry {
      Objects.requireNonNull(time, "time");
      Objects.requireNonNull(rpc, "rpc");
      Objects.requireNonNull(outcome, "outcome");
    }
  }

  /** A request to reopen the file, queued in order with the records. */
  private static final Entry REOPEN = new Entry(Instant.EPOCH, null, "reopen", null, "", null,
      null, 0);
  private static final Entry STOP = new Entry(Instant.EPOCH, null, "stop", null, "", null, null,
      0);

  private final Path file;
  private final BlockingQueue<Entry> queue = new ArrayBlockingQueue<>(QUEUE_CAPACITY);
  private final AtomicLong dropped = new AtomicLong();
  private final Thread writer;
  /** Confined to the writer thread after construction. */
  private FileChannel channel;

  private AuditLog(Path file, FileChannel channel) {
    this.file = file;
    this.channel = channel;
    this.writer = new Thread(this::writeLoop, "cryo-audit");
    writer.setDaemon(true);
  }

  /**
   * Opens (creates) the audit file for appending and starts its writer.
   *
   * @throws IOException if the file cannot be opened for appending or made mode 0600
   */
  public static AuditLog open(Path file) throws IOException {
    AuditLog audit = new AuditLog(file, openChannel(file));
    audit.writer.start();
    return audit;
  }

  private static FileChannel openChannel(Path file) throws IOException {
    try {
      FileChannel channel = FileChannel.open(file, EnumSet.of(StandardOpenOption.CREATE,
          StandardOpenOption.WRITE, StandardOpenOption.APPEND),
          PosixFilePermissions.asFileAttribute(OWNER_ONLY));
      // CREATE's mode applies to a new file only (and the umask may narrow it, never widen it);
      // an existing file keeps its own, so set it.
      Files.setPosixFilePermissions(file, OWNER_ONLY);
      return channel;
    } catch (IOException e) {
      throw new IOException("cannot open the audit log " + file + " for appending: " + e, e);
    }
  }

  /** The file records go to. */
  public Path file() {
    return file;
  }

  /** Queues one record; never blocks. */
  public void record(Entry entry) {
    if (!queue.offer(Objects.requireNonNull(entry, "entry"))) {
      if (dropped.getAndIncrement() == 0) {
        log.error("audit log {} is not keeping up (disk stalled?): dropping records", file);
      }
    }
  }

  /**
   * Closes and reopens the file after the records queued so far (on SIGHUP, so that logrotate can
   * move the file away and have the next records go to a new one).
   */
  public void reopen() {
    try {
      queue.put(REOPEN);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One record as its JSON line, without the newline. */
  public static String toJson(Entry e) {
    JsonObject o = new JsonObject();
    o.addProperty("time", e.time().truncatedTo(ChronoUnit.MILLIS).toString());
    o.addProperty("principal", e.principal());
    o.addProperty("rpc", e.rpc());
    o.addProperty("domain", e.domain());
    o.addProperty("outcome", e.outcome());
    if (e.reason() != null && !e.reason().isEmpty()) {
      String reason = e.reason().length() > MAX_REASON_CHARS
          ? e.reason().substring(0, MAX_REASON_CHARS) + "..." : e.reason();
      o.addProperty("reason", reason);
    }
    if (e.peer() != null) {
      o.addProperty("peer", e.peer());
    }
    o.addProperty("millis", e.millis());
    // Gson escapes newlines and control characters: one record is always one line.
    return GSON.toJson(o);
  }

  private void writeLoop() {
    List<Entry> batch = new ArrayList<>();
    while (true) {
      try {
        batch.add(queue.take());
      } catch (InterruptedException e) {
        return;
      }
      queue.drainTo(batch);
      StringBuilder lines = new StringBuilder();
      long lost = dropped.getAndSet(0);
      if (lost > 0) {
        JsonObject o = new JsonObject();
        o.addProperty("time", Instant.now().truncatedTo(ChronoUnit.MILLIS).toString());
        o.addProperty("dropped", lost);
        lines.append(o).append('\n');
      }
      boolean stop = false;
      for (Entry e : batch) {
        if (e == REOPEN || e == STOP) {
          write(lines);
          lines.setLength(0);
          if (e == STOP) {
            stop = true;
            break;
          }
          reopenChannel();
        } else {
          lines.append(toJson(e)).append('\n');
        }
      }
      write(lines);
      batch.clear();
      if (stop) {
        closeChannel();
        return;
      }
    }
  }

  private void write(CharSequence lines) {
    if (lines.length() == 0) {
      return;
    }
    ByteBuffer bytes = StandardCharsets.UTF_8.encode(lines.toString());
    try {
      while (bytes.hasRemaining()) {
        channel.write(bytes);
      }
      channel.force(false);
    } catch (IOException e) {
      log.error("cannot write the audit log {}: {}", file, e.toString());
    }
  }

  private void reopenChannel() {
    try {
      FileChannel next = openChannel(file);
      closeChannel();
      channel = next;
      log.info("audit log {} reopened", file);
    } catch (IOException e) {
      log.error("cannot reopen the audit log: {}; still writing to the old file", e.getMessage());
    }
  }

  private void closeChannel() {
    try {
      channel.close();
    } catch (IOException e) {
      log.warn("error closing the audit log {}", file, e);
    }
  }

  /** Writes the records queued so far (waiting up to 5 s for the disk), then closes the file. */
  @Override
  public void close() {
    if (!writer.isAlive()) {
      return;
    }
    try {
      if (queue.offer(STOP, 5, TimeUnit.SECONDS)) {
        writer.join(5_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (writer.isAlive()) {
      writer.interrupt();
    }
  }
}
