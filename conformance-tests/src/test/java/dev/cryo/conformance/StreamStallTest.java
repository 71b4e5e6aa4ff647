package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.api.v1.BackupServiceGrpc;
import dev.cryo.api.v1.Compression;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.SaveDomainRequest;
import dev.cryo.api.v1.SaveDomainResponse;
import dev.cryo.api.v1.StreamBackupRequest;
import dev.cryo.api.v1.StreamBackupResponse;
import dev.cryo.api.v1.WatchDomainEventsRequest;
import dev.cryo.client.BackupJob;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One stall policy for every server stream, on a real guest: a client that stops reading a save,
 * a backup or an event watch is abandoned after the server's {@code --stream-stall-seconds} (or,
 * for a watch, its {@code --stream-buffer-bytes}), the work behind the call is undone (the guest
 * runs on as it was, no job, no file, no checkpoint), and the other calls go on. The clients
 * here stop asking for messages (gRPC flow control) on a narrow HTTP/2 window, so the server
 * cannot push more than a little ahead. Restores whose client stops sending: {@link
 * StreamLimitsTest}. Each test leaves the guest running, as it found it.
 */
@Timeout(600)
@LocalServer("needs a server with --stream-stall-seconds and reads its state folder")
class StreamStallTest {
  static final String NAME = "stall";
  static final int STALL_SECONDS = 3;
  static final long CALL_SECONDS = 300;
  /** Small enough to fill with events in seconds, large enough for a reader that keeps up. */
  static final long BUFFER_BYTES = 64 << 10;

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static GuestProbe.Beat booted;

  private ManagedChannel narrow;

  @BeforeAll
  static void startGuest() throws Exception {
    cryo = CryoTarget.start(temp, List.of("--stream-stall-seconds",
        Integer.toString(STALL_SECONDS), "--stream-buffer-bytes", Long.toString(BUFFER_BYTES)));
    domains = cryo.client().domains();
    Path disk = TestGuest.createQcow2(temp.resolve("data.qcow2"), "64M");
    // 8 MiB of data, so a full backup streams far more than the client's window holds.
    Process fill = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 8M",
        disk.toString()).redirectErrorStream(true).start();
    fill.getInputStream().readAllBytes();
    assertThat(fill.waitFor()).isZero();
    domains.define(TestGuest.xml(NAME, 128, 16, disk, "qcow2"));
    domains.start(NAME);
    booted = GuestProbe.awaitBooted(domains, NAME);
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (cryo != null) {
      try {
        domains.destroy(NAME);
      } finally {
        cryo.close();
      }
    }
  }

  @AfterEach
  void closeChannel() throws InterruptedException {
    if (narrow != null) {
      narrow.shutdownNow();
      narrow.awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  /** A channel whose HTTP/2 window per stream is {@code windowBytes}. */
  private ManagedChannel narrow(int windowBytes) {
    narrow = NettyChannelBuilder.forTarget(cryo.target()).usePlaintext()
        .flowControlWindow(windowBytes).maxInboundMessageSize(64 << 20).build();
    return narrow;
  }

  @Test
  void save_readerStops_isAbandonedAndTheGuestRunsOn() throws Exception {
    BlockingQueue<DomainEvent> events = new LinkedBlockingQueue<>();
    try (AutoCloseable watch = domains.watch(NAME, events::add)) {
      // Not live: the guest is paused for the save, and must run again once it is abandoned.
      RawCalls.Collector save = RawCalls.start(narrow(64 << 10), RawCalls.call(
          ImageServiceGrpc.getSaveDomainMethod(), SaveDomainRequest.newBuilder().setName(NAME)
              .setStream(true).setCompression(Compression.COMPRESSION_RAW).build()),
          CALL_SECONDS, false);
      save.first.get(120, TimeUnit.SECONDS);

      awaitEvent(events, DomainEvent.Type.SUSPENDED);
      long pausedAt = System.nanoTime();
      awaitEvent(events, DomainEvent.Type.RESUMED);
      assertThat(Duration.ofNanos(System.nanoTime() - pausedAt))
          .as("the server waited the stall limit before it gave up")
          .isGreaterThanOrEqualTo(Duration.ofSeconds(STALL_SECONDS).minusMillis(500));
      assertThat(save.done).as("the client has not read the end yet").isNotDone();

      assertGuestRunsOnAsItWas();
      assertThat(domains.job(NAME)).as("the save's job").isEmpty();
      assertThat(leftFiles()).as("partial files in the state folder").isEmpty();

      // Reading again, the client gets what the transport held, then the reason.
      save.request(Integer.MAX_VALUE);
      RawCalls.Outcome outcome = save.done.get(60, TimeUnit.SECONDS);
      assertAbandonedForStall(outcome, "the save of '" + NAME + "'");
      assertThat(outcome.responses()).as("no summary: the save did not complete")
          .noneMatch(m -> ((SaveDomainResponse) m).hasSummary());
    }
  }

  @Test
  void backup_readerStops_isAbandonedAndLeavesNothing() throws Exception {
    List<String> checkpointsBefore = checkpointNames();
    RawCalls.Collector backup = RawCalls.start(narrow(64 << 10), RawCalls.call(
        BackupServiceGrpc.getStreamBackupMethod(), StreamBackupRequest.newBuilder()
            .setDomain(NAME)
            .setCheckpointXml("<domaincheckpoint><name>stalled</name></domaincheckpoint>")
            .build()), CALL_SECONDS, false);
    assertThat(((StreamBackupResponse) backup.first.get(120, TimeUnit.SECONDS)).hasHeader())
        .isTrue();

    BackupJob job = awaitState("the backup to end",
        () -> cryo.client().backups().job(NAME), j -> j.state() != BackupJob.State.RUNNING);
    assertThat(job.state()).isEqualTo(BackupJob.State.CANCELLED);
    assertThat(job.message()).contains("read nothing for " + STALL_SECONDS + " s");
    assertThat(job.bytesDone()).as("bytes the client never read").isLessThan(job.bytesTotal());
    assertThat(domains.job(NAME)).as("the backup's job").isEmpty();
    assertThat(checkpointNames()).as("the checkpoint the backup would have created")
        .isEqualTo(checkpointsBefore);
    assertThat(leftFiles()).as("the backup's temporary copy").isEmpty();
    assertGuestRunsOnAsItWas();

    backup.request(Integer.MAX_VALUE);
    RawCalls.Outcome outcome = backup.done.get(60, TimeUnit.SECONDS);
    assertAbandonedForStall(outcome, "the backup of '" + NAME + "'");
    assertThat(outcome.responses()).noneMatch(m -> ((StreamBackupResponse) m).hasFinished());
  }

  @Test
  void watchEvents_readerStops_isDroppedAndTheOthersCarryOn() throws Exception {
    // Events of a domain with a 200-character name are over 200 bytes each: 300 of them fill
    // the 64 KiB the server may hold for a watcher beyond its 1 KiB window; 250 definitions and
    // removals make 500. The other watcher reads them all.
    String longName = "w".repeat(200);
    int pairs = 250;
    RawCalls.Collector stalled = RawCalls.start(narrow(1024), RawCalls.call(
        DomainServiceGrpc.getWatchDomainEventsMethod(),
        WatchDomainEventsRequest.newBuilder().setName(longName).build()), CALL_SECONDS, false);
    stalled.first.get(60, TimeUnit.SECONDS);
    BlockingQueue<DomainEvent> reading = new LinkedBlockingQueue<>();
    CompletableFuture<CryoException> readerFailed = new CompletableFuture<>();
    try (AutoCloseable watch = domains.watch(longName, reading::add, readerFailed::complete)) {
      String xml = TestGuest.xml(longName, 64, 0, null, null);
      for (int i = 0; i < pairs; i++) {
        domains.define(xml);
        domains.undefine(longName);
      }
      for (int i = 0; i < pairs; i++) {
        awaitEvent(reading, DomainEvent.Type.DEFINED);
        awaitEvent(reading, DomainEvent.Type.UNDEFINED);
      }
      assertThat(readerFailed).as("the watcher that reads").isNotDone();
    }
    assertThat(stalled.done).as("the client has not read the end yet").isNotDone();
    assertGuestRunsOnAsItWas();

    stalled.request(Integer.MAX_VALUE);
    RawCalls.Outcome outcome = stalled.done.get(60, TimeUnit.SECONDS);
    // Whichever limit came first: the buffer filled, or the stall limit ran out meanwhile.
    assertThat(outcome.code()).as("%s", outcome)
        .isIn(Status.Code.RESOURCE_EXHAUSTED, Status.Code.DEADLINE_EXCEEDED);
    assertThat(outcome.status().getDescription())
        .contains("the event watch was abandoned")
        .containsAnyOf("--stream-buffer-bytes", "--stream-stall-seconds");
    assertThat(outcome.responses().size()).as("events delivered before the watcher was dropped")
        .isLessThan(1 + 2 * pairs);

    // A new watcher is served as before, with the guest's events.
    BlockingQueue<DomainEvent> after = new LinkedBlockingQueue<>();
    try (AutoCloseable watch = domains.watch(NAME, after::add)) {
      domains.suspend(NAME);
      domains.resume(NAME);
      awaitEvent(after, DomainEvent.Type.SUSPENDED);
      awaitEvent(after, DomainEvent.Type.RESUMED);
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  private static void assertAbandonedForStall(RawCalls.Outcome outcome, String what) {
    assertThat(outcome.code()).as("%s", outcome).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(outcome.status().getDescription())
        .contains("read nothing for " + STALL_SECONDS + " s", "--stream-stall-seconds",
            what + " was abandoned");
  }

  /**
   * Same boot, the heartbeat counting on past where it was, the guest's memory unchanged: read
   * on a console that replays no earlier output, so every line is new.
   */
  private static void assertGuestRunsOnAsItWas() throws InterruptedException {
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    StringBuilder partial = new StringBuilder();
    try (var console = domains.console(NAME, 0, bytes -> {
      synchronized (partial) {
        partial.append(new String(bytes, StandardCharsets.UTF_8));
        for (int nl; (nl = partial.indexOf("\n")) >= 0; partial.delete(0, nl + 1)) {
          lines.add(partial.substring(0, nl).strip());
        }
      }
    })) {
      Matcher first = awaitLine(lines, GuestProbe.COUNTER);
      assertThat(first.group(2)).as("same boot").isEqualTo(booted.boot());
      assertThat(Long.parseLong(first.group(1))).as("heartbeat").isGreaterThan(booted.counter());
      Matcher next = awaitLine(lines, GuestProbe.COUNTER);
      assertThat(Long.parseLong(next.group(1))).as("the heartbeat goes on")
          .isGreaterThan(Long.parseLong(first.group(1)));
      console.send("checksum\n");
      assertThat(awaitLine(lines, GuestProbe.CHECKSUM).group(1)).as("guest memory checksum")
          .isEqualTo(booted.checksum());
    }
  }

  private static Matcher awaitLine(BlockingQueue<String> lines, Pattern pattern)
      throws InterruptedException {
    long deadline = System.nanoTime() + GuestProbe.LINE.toNanos();
    while (true) {
      String line = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      assertThat(line).as("a line matching %s", pattern).isNotNull();
      Matcher m = pattern.matcher(line);
      if (m.find()) {
        return m;
      }
    }
  }

  private static void awaitEvent(BlockingQueue<DomainEvent> events, DomainEvent.Type type)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      DomainEvent e = events.poll(Math.max(0, deadline - System.nanoTime()),
          TimeUnit.NANOSECONDS);
      assertThat(e).as("a %s event", type).isNotNull();
      if (e.type() == type) {
        return;
      }
    }
  }

  /** Polls a state the server exposes no event for, until {@code done} or two minutes. */
  private static <T> T awaitState(String what, Supplier<T> read,
      java.util.function.Predicate<T> done) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    T value = read.get();
    while (!done.test(value)) {
      assertThat(System.nanoTime()).as("waiting for %s: %s", what, value).isLessThan(deadline);
      Thread.sleep(100);
      value = read.get();
    }
    return value;
  }

  private static List<String> checkpointNames() {
    return cryo.client().checkpoints().list(NAME).stream().map(Checkpoint::name).sorted()
        .toList();
  }

  /** Temporary and partial files anywhere in the state folder: saves, backup copies. */
  private static List<Path> leftFiles() throws Exception {
    try (Stream<Path> files = Files.walk(cryo.stateDir())) {
      return files.filter(Files::isRegularFile).filter(f -> {
        String n = f.getFileName().toString();
        return n.endsWith(".tmp") || n.endsWith(".save") || n.startsWith("backup-");
      }).toList();
    }
  }

}
