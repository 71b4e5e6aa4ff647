package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.error.ErrorKind;
import dev.cryo.server.qemu.QemuRefusedException.ErrorClass;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link QemuMonitor} against {@link FakeQmpPeer}, a real socket speaking real JSON: what each
 * typed call puts on the wire, how replies and events are read back, and how every kind of QMP
 * failure becomes a Cryo error.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class QemuMonitorTest {
  private static final long WAIT_SECONDS = 5;

  @TempDir Path tempDir;

  private FakeQmpPeer peer;
  private QemuMonitor monitor;
  private final ExecutorService background = Executors.newCachedThreadPool();

  @BeforeEach
  void connect() throws Exception {
    Path socket = tempDir.resolve("vm-test").resolve("qmp.sock");
    peer = FakeQmpPeer.start(socket);
    monitor = new QemuMonitor(QmpConnection.connect(socket, Duration.ofSeconds(5)), "vm1",
        Duration.ofSeconds(2));
    peer.awaitNegotiated();
  }

  @AfterEach
  void tearDown() throws Exception {
    monitor.close();
    peer.close();
    background.shutdownNow();
  }

  private static JsonObject json(String text) {
    return JsonParser.parseString(text).getAsJsonObject();
  }

  private static JsonElement jsonValue(String text) {
    return JsonParser.parseString(text);
  }

  /** Runs {@code call} in the background, answers its one command with {@code reply}. */
  private <T> Exchange<T> exchange(Callable<T> call, String reply) throws Exception {
    Future<T> result = background.submit(call);
    FakeQmpPeer.Command command = peer.takeCommand();
    peer.reply(command, jsonValue(reply));
    return new Exchange<>(command, result.get(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  private Exchange<Void> exchange(Runnable call) throws Exception {
    return exchange(() -> {
      call.run();
      return null;
    }, "{}");
  }

  private record Exchange<T>(FakeQmpPeer.Command command, T result) {}

  private static Throwable failureOf(Future<?> future) throws Exception {
    try {
      future.get(WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("the call returned normally");
  }

  // ---- argument encoding -----------------------------------------------------------------------

  @Test
  void commandsWithoutArguments_sendNone() throws Exception {
    for (Runnable call : List.<Runnable>of(monitor::stop, monitor::cont, monitor::systemPowerdown,
        monitor::migrateCancel)) {
      FakeQmpPeer.Command c = exchange(call).command();
      assertThat(c.arguments()).as(c.name()).isNull();
    }
  }

  @Test
  void migrationCommands_encodeQapiMembers() throws Exception {
    FakeQmpPeer.Command caps = exchange(() -> monitor.migrateSetCapabilities(
        List.of(new QemuMonitor.MigrationCapability("events", true)))).command();
    assertThat(caps.name()).isEqualTo("migrate-set-capabilities");
    assertThat(caps.arguments()).isEqualTo(
        json("{\"capabilities\":[{\"capability\":\"events\",\"state\":true}]}"));

    FakeQmpPeer.Command params = exchange(() -> monitor.migrateSetParameters(
        new QemuMonitor.MigrationParameters(1L << 40))).command();
    assertThat(params.name()).isEqualTo("migrate-set-parameters");
    assertThat(params.arguments()).isEqualTo(json("{\"max-bandwidth\":1099511627776}"));

    FakeQmpPeer.Command migrate = exchange(() -> monitor.migrate("fd:cryo-save")).command();
    assertThat(migrate.name()).isEqualTo("migrate");
    assertThat(migrate.arguments()).isEqualTo(json("{\"uri\":\"fd:cryo-save\"}"));

    FakeQmpPeer.Command incoming = exchange(() -> monitor.migrateIncoming("unix:/r/restore.sock"))
        .command();
    assertThat(incoming.name()).isEqualTo("migrate-incoming");
    assertThat(incoming.arguments()).isEqualTo(json("{\"uri\":\"unix:/r/restore.sock\"}"));
  }

  @Test
  void blockdevAdd_fileAndQcow2_referenceOrInline() throws Exception {
    FakeQmpPeer.Command file = exchange(() -> monitor.blockdevAdd(
        new BlockdevOptions.File("ov-s", Path.of("/img/ov.qcow2"), true))).command();
    assertThat(file.name()).isEqualTo("blockdev-add");
    assertThat(file.arguments()).isEqualTo(json("{\"driver\":\"file\","
        + "\"filename\":\"/img/ov.qcow2\",\"node-name\":\"ov-s\",\"discard\":\"unmap\"}"));

    FakeQmpPeer.Command overlay = exchange(() -> monitor.blockdevAdd(new BlockdevOptions.Qcow2(
        "ov-f", new BlockdevOptions.NodeRef("ov-s"), true))).command();
    // "backing": null is meaningful to QEMU: open no backing file.
    assertThat(overlay.raw().toString()).contains("\"backing\":null");
    assertThat(overlay.arguments()).isEqualTo(json(
        "{\"driver\":\"qcow2\",\"node-name\":\"ov-f\",\"file\":\"ov-s\",\"backing\":null}"));

    FakeQmpPeer.Command target = exchange(() -> monitor.blockdevAdd(new BlockdevOptions.Qcow2(
        "cryo-backup-vda", new BlockdevOptions.File(null, Path.of("/b/t.qcow2"), false), false)))
        .command();
    assertThat(target.arguments()).isEqualTo(json("{\"driver\":\"qcow2\","
        + "\"node-name\":\"cryo-backup-vda\",\"file\":{\"driver\":\"file\","
        + "\"filename\":\"/b/t.qcow2\"}}"));

    FakeQmpPeer.Command del = exchange(() -> monitor.blockdevDel("ov-f")).command();
    assertThat(del.name()).isEqualTo("blockdev-del");
    assertThat(del.arguments()).isEqualTo(json("{\"node-name\":\"ov-f\"}"));
  }

  @Test
  void transaction_everyActionType() throws Exception {
    FakeQmpPeer.Command t = exchange(() -> monitor.transaction(List.of(
        new TransactionAction.BlockdevSnapshot("top", "ov-f"),
        new TransactionAction.BitmapAdd("fmt", "c1", true),
        new TransactionAction.BitmapRemove("fmt", "c0"),
        new TransactionAction.BitmapMerge("fmt", "c0", List.of("c1")),
        new TransactionAction.BlockdevBackup("j", "fmt", "tgt", TransactionAction.Sync.BITMAP,
            "c1", TransactionAction.BitmapMode.NEVER, true, 1000),
        new TransactionAction.BlockdevBackup("k", "fmt", "tgt2", TransactionAction.Sync.FULL,
            null, null, true, 0)))).command();
    assertThat(t.name()).isEqualTo("transaction");
    assertThat(t.arguments()).isEqualTo(json("{\"actions\":["
        + "{\"type\":\"blockdev-snapshot\",\"data\":{\"node\":\"top\",\"overlay\":\"ov-f\"}},"
        + "{\"type\":\"block-dirty-bitmap-add\",\"data\":{\"node\":\"fmt\",\"name\":\"c1\","
        + "\"persistent\":true}},"
        + "{\"type\":\"block-dirty-bitmap-remove\",\"data\":{\"node\":\"fmt\",\"name\":\"c0\"}},"
        + "{\"type\":\"block-dirty-bitmap-merge\",\"data\":{\"node\":\"fmt\",\"target\":\"c0\","
        + "\"bitmaps\":[\"c1\"]}},"
        + "{\"type\":\"blockdev-backup\",\"data\":{\"job-id\":\"j\",\"device\":\"fmt\","
        + "\"target\":\"tgt\",\"sync\":\"bitmap\",\"bitmap\":\"c1\",\"bitmap-mode\":\"never\","
        + "\"auto-dismiss\":true,\"speed\":1000}},"
        + "{\"type\":\"blockdev-backup\",\"data\":{\"job-id\":\"k\",\"device\":\"fmt\","
        + "\"target\":\"tgt2\",\"sync\":\"full\",\"auto-dismiss\":true}}]}"));
  }

  @Test
  void transaction_empty_sendsNothing() throws Exception {
    monitor.transaction(List.of());
    assertThat(peer.pollCommand(Duration.ofMillis(200))).isNull();
  }

  @Test
  void jobCommands_encodeQapiMembers() throws Exception {
    background.submit(() -> monitor.startJob(new QemuJob.SnapshotSave("s1", "snap", "fmt-vda",
        List.of("fmt-vda", "fmt-vdb"))));
    FakeQmpPeer.Command save = peer.takeCommand();
    peer.replyEmpty(save);
    assertThat(save.name()).isEqualTo("snapshot-save");
    assertThat(save.arguments()).isEqualTo(json("{\"job-id\":\"s1\",\"tag\":\"snap\","
        + "\"vmstate\":\"fmt-vda\",\"devices\":[\"fmt-vda\",\"fmt-vdb\"]}"));

    background.submit(() -> monitor.startJob(new QemuJob.SnapshotDelete("d1", "snap",
        List.of("fmt-vda"))));
    FakeQmpPeer.Command delete = peer.takeCommand();
    peer.replyEmpty(delete);
    assertThat(delete.arguments()).isEqualTo(
        json("{\"job-id\":\"d1\",\"tag\":\"snap\",\"devices\":[\"fmt-vda\"]}"));

    background.submit(() -> monitor.startJob(new QemuJob.BlockCommit("c1", "dev", "top",
        "base")));
    FakeQmpPeer.Command commit = peer.takeCommand();
    peer.replyEmpty(commit);
    assertThat(commit.name()).isEqualTo("block-commit");
    assertThat(commit.arguments()).isEqualTo(json("{\"job-id\":\"c1\",\"device\":\"dev\","
        + "\"top-node\":\"top\",\"base-node\":\"base\",\"auto-dismiss\":false}"));

    assertThat(exchange(() -> monitor.jobCancel("j")).command().raw().toString())
        .contains("\"execute\":\"job-cancel\"", "\"arguments\":{\"id\":\"j\"}");
  }

  // ---- result decoding -------------------------------------------------------------------------

  @Test
  void queryStatus_andQueryMigrate_decoded() throws Exception {
    assertThat(exchange(monitor::queryStatus,
        "{\"running\":false,\"singlestep\":false,\"status\":\"inmigrate\"}").result())
        .isEqualTo(new QemuMonitor.RunState("inmigrate", false));
    assertThat(exchange(monitor::queryMigrate, "{}").result())
        .isEqualTo(new QemuMonitor.MigrationInfo("none", null, null));
    assertThat(exchange(monitor::queryMigrate,
        "{\"status\":\"failed\",\"error-desc\":\"Unable to write\",\"downtime\":12}").result())
        .isEqualTo(new QemuMonitor.MigrationInfo("failed", 12L, "Unable to write"));
  }

  @Test
  void cpuDefinitionsAndBalloon_encodedAndDecoded() throws Exception {
    Exchange<List<QemuMonitor.CpuDefinition>> cpus = exchange(monitor::queryCpuDefinitions,
        "[{\"name\":\"Westmere\",\"typename\":\"Westmere-x86_64-cpu\",\"static\":false,"
            + "\"migration-safe\":true,\"deprecated\":false,\"unavailable-features\":[]},"
            + "{\"name\":\"qemu64\",\"typename\":\"qemu64-x86_64-cpu\",\"static\":false,"
            + "\"deprecated\":false}]");
    assertThat(cpus.command().name()).isEqualTo("query-cpu-definitions");
    assertThat(cpus.result()).containsExactly(new QemuMonitor.CpuDefinition("Westmere"),
        new QemuMonitor.CpuDefinition("qemu64"));

    FakeQmpPeer.Command balloon = exchange(() -> monitor.balloon(96L << 20)).command();
    assertThat(balloon.name()).isEqualTo("balloon");
    assertThat(balloon.arguments()).isEqualTo(json("{\"value\":100663296}"));

    Exchange<Long> actual = exchange(monitor::queryBalloon, "{\"actual\":100663296}");
    assertThat(actual.command().name()).isEqualTo("query-balloon");
    assertThat(actual.result()).isEqualTo(96L << 20);
  }

  @Test
  void queryBlock_decodesChainTopFirst() throws Exception {
    List<QemuMonitor.BlockInfo> blocks = exchange(monitor::queryBlock, "[{\"device\":\"\","
        + "\"qdev\":\"/machine/peripheral/virtio-vda/virtio-backend\",\"type\":\"unknown\","
        + "\"removable\":false,\"locked\":false,\"inserted\":{\"file\":\"/i/ov.qcow2\","
        + "\"node-name\":\"ov-f\",\"drv\":\"qcow2\",\"image\":{\"filename\":\"/i/ov.qcow2\","
        + "\"format\":\"qcow2\",\"virtual-size\":1048576,\"backing-image\":{\"filename\":"
        + "\"/i/base.qcow2\",\"format\":\"qcow2\",\"virtual-size\":1048576}}}},"
        + "{\"device\":\"cd\",\"type\":\"unknown\",\"removable\":true,\"locked\":false}]")
        .result();
    assertThat(blocks).hasSize(2);
    QemuMonitor.BlockInfo vda = blocks.get(0);
    assertThat(vda.qdev()).contains("/virtio-vda/");
    assertThat(vda.inserted().nodeName()).isEqualTo("ov-f");
    assertThat(vda.inserted().chain()).containsExactly(Path.of("/i/ov.qcow2"),
        Path.of("/i/base.qcow2"));
    assertThat(blocks.get(1).qdev()).isNull();
    assertThat(blocks.get(1).inserted()).isNull();
  }

  @Test
  void queryNamedBlockNodes_sendsFlat_decodesBitmaps() throws Exception {
    Exchange<List<QemuMonitor.BlockDeviceInfo>> x = exchange(monitor::queryNamedBlockNodes,
        "[{\"file\":\"/i/d.qcow2\",\"node-name\":\"fmt-vda\",\"drv\":\"qcow2\","
        + "\"image\":{\"filename\":\"/i/d.qcow2\",\"format\":\"qcow2\",\"virtual-size\":4096},"
        + "\"dirty-bitmaps\":[{\"name\":\"c1\",\"count\":65536,\"granularity\":65536,"
        + "\"recording\":true,\"busy\":false,\"persistent\":true},"
        + "{\"count\":0,\"granularity\":65536,\"recording\":false,\"busy\":true,"
        + "\"persistent\":false,\"inconsistent\":true}]},"
        + "{\"file\":\"/i/d.qcow2\",\"drv\":\"file\",\"image\":{\"filename\":\"/i/d.qcow2\","
        + "\"format\":\"file\",\"virtual-size\":8192}}]");
    assertThat(x.command().arguments()).isEqualTo(json("{\"flat\":true}"));
    QemuMonitor.BlockDeviceInfo fmt = x.result().get(0);
    assertThat(fmt.image().virtualSize()).isEqualTo(4096);
    assertThat(fmt.dirtyBitmaps()).containsExactly(
        new QemuMonitor.DirtyBitmap("c1", 65536, 65536, true, false, true, false),
        new QemuMonitor.DirtyBitmap(null, 0, 65536, false, true, false, true));
    assertThat(x.result().get(1).nodeName()).isEmpty();
    assertThat(x.result().get(1).drv()).isEqualTo("file");
  }

  @Test
  void queryJobs_andBlockJobs_decoded() throws Exception {
    assertThat(exchange(monitor::queryJobs, "[{\"id\":\"j\",\"type\":\"backup\","
        + "\"status\":\"concluded\",\"current-progress\":5,\"total-progress\":10,"
        + "\"error\":\"No space left on device\"}]").result())
        .containsExactly(new QemuMonitor.JobInfo("j", "backup", "concluded", 5, 10,
            "No space left on device"));
    assertThat(exchange(monitor::queryBlockJobs, "[{\"type\":\"commit\",\"device\":\"c\","
        + "\"len\":100,\"offset\":40,\"busy\":true,\"paused\":false,\"speed\":0,"
        + "\"io-status\":\"ok\",\"ready\":false,\"status\":\"running\",\"auto-finalize\":true,"
        + "\"auto-dismiss\":false}]").result())
        .containsExactly(new QemuMonitor.BlockJobInfo("commit", "c", 100, 40, "running", null));
  }

  // ---- events ----------------------------------------------------------------------------------

  @Test
  void eventListener_getsTypedEventsInOrder() throws Exception {
    List<QemuEvent> seen = new CopyOnWriteArrayList<>();
    monitor.addEventListener(seen::add);
    peer.sendEvent("STOP", null);
    peer.sendEvent("SHUTDOWN", json("{\"guest\":true,\"reason\":\"guest-shutdown\"}"));
    peer.sendEvent("BLOCK_IO_ERROR", json("{\"device\":\"\",\"node-name\":\"fmt-vda\","
        + "\"operation\":\"write\",\"action\":\"stop\",\"nospace\":true,"
        + "\"reason\":\"No space left on device\"}"));
    peer.sendEvent("RTC_CHANGE", json("{\"offset\":1}"));
    peer.sendEvent("RESUME", null);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (seen.size() < 5 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(seen).hasSize(5);
    assertThat(seen.get(0)).isInstanceOf(QemuEvent.Stop.class);
    assertThat(seen.get(1)).isInstanceOfSatisfying(QemuEvent.Shutdown.class, s -> {
      assertThat(s.guest()).isTrue();
      assertThat(s.reason()).isEqualTo("guest-shutdown");
    });
    assertThat(seen.get(2)).isInstanceOfSatisfying(QemuEvent.BlockIoError.class, e -> {
      assertThat(e.nodeName()).isEqualTo("fmt-vda");
      assertThat(e.operation()).isEqualTo("write");
      assertThat(e.action()).isEqualTo("stop");
    });
    assertThat(seen.get(3)).isEqualTo(new QemuEvent.Other(seen.get(3).timestamp(),
        "RTC_CHANGE"));
    assertThat(seen.get(4)).isInstanceOf(QemuEvent.Resume.class);
  }

  @Test
  void nextEvent_typeAndFilter_skipOthers() throws Exception {
    CompletableFuture<QemuEvent.Migration> done = monitor.nextEvent(QemuEvent.Migration.class,
        m -> m.status().equals("completed"));
    CompletableFuture<QemuEvent.BlockJobEnded> backup = monitor.nextEvent(
        QemuEvent.BlockJobEnded.class, e -> e.device().equals("cryo-backup-vdb"));
    peer.sendEvent("MIGRATION", json("{\"status\":\"active\"}"));
    peer.sendEvent("BLOCK_JOB_COMPLETED", json("{\"type\":\"backup\",\"device\":"
        + "\"cryo-backup-vda\",\"len\":10,\"offset\":10,\"speed\":0}"));
    peer.sendEvent("BLOCK_JOB_CANCELLED", json("{\"type\":\"backup\",\"device\":"
        + "\"cryo-backup-vdb\",\"len\":10,\"offset\":3,\"speed\":0}"));
    peer.sendEvent("MIGRATION", json("{\"status\":\"completed\"}"));
    assertThat(monitor.await(done, Duration.ofSeconds(WAIT_SECONDS)))
        .hasValueSatisfying(m -> assertThat(m.status()).isEqualTo("completed"));
    QemuEvent.BlockJobEnded ended = monitor.await(backup, Duration.ofSeconds(WAIT_SECONDS))
        .orElseThrow();
    assertThat(ended.cancelled()).isTrue();
    assertThat(ended.offset()).isEqualTo(3);
    assertThat(ended.error()).isNull();
  }

  @Test
  void await_notYet_isEmptyAndLeavesTheWaitRegistered() throws Exception {
    CompletableFuture<QemuEvent.Stop> stop = monitor.nextEvent(QemuEvent.Stop.class, null);
    assertThat(monitor.await(stop, Duration.ofMillis(100))).isEmpty();
    peer.sendEvent("STOP", null);
    assertThat(monitor.await(stop, Duration.ofSeconds(WAIT_SECONDS))).isPresent();
  }

  @Test
  void await_interrupted_isCancelledWithTheFlagKept() throws Exception {
    CompletableFuture<QemuEvent.Stop> stop = monitor.nextEvent(QemuEvent.Stop.class, null);
    Thread.currentThread().interrupt();
    try {
      assertThatThrownBy(() -> monitor.await(stop, Duration.ofSeconds(WAIT_SECONDS)))
          .isInstanceOf(CancelledException.class);
      assertThat(Thread.currentThread().isInterrupted()).isTrue();
    } finally {
      Thread.interrupted();
    }
  }

  // ---- jobs ------------------------------------------------------------------------------------

  @Test
  void runJob_waitsForConcluded_readsError_dismisses() throws Exception {
    Future<?> run = background.submit(() -> monitor.runJob(new QemuJob.SnapshotLoad("l1", "s",
        "fmt-vda", List.of("fmt-vda")), Duration.ofSeconds(WAIT_SECONDS)));
    FakeQmpPeer.Command load = peer.takeCommand();
    assertThat(load.name()).isEqualTo("snapshot-load");
    peer.replyEmpty(load);
    peer.sendEvent("JOB_STATUS_CHANGE", json("{\"id\":\"other\",\"status\":\"concluded\"}"));
    assertThat(peer.pollCommand(Duration.ofMillis(200))).as("another job's end").isNull();
    peer.sendEvent("JOB_STATUS_CHANGE", json("{\"id\":\"l1\",\"status\":\"concluded\"}"));
    FakeQmpPeer.Command query = peer.takeCommand();
    assertThat(query.name()).isEqualTo("query-jobs");
    peer.reply(query, jsonValue("[{\"id\":\"l1\",\"type\":\"snapshot-load\",\"status\":"
        + "\"concluded\",\"current-progress\":1,\"total-progress\":1,\"error\":"
        + "\"Snapshot 's' does not exist\"}]"));
    FakeQmpPeer.Command dismiss = peer.takeCommand();
    assertThat(dismiss.name()).isEqualTo("job-dismiss");
    assertThat(dismiss.arguments()).isEqualTo(json("{\"id\":\"l1\"}"));
    peer.replyEmpty(dismiss);
    assertThat(failureOf(run)).isInstanceOfSatisfying(QemuRefusedException.class, e -> {
      assertThat(e.errorClass()).isEqualTo(ErrorClass.JOB_FAILED);
      assertThat(e.command()).isEqualTo("snapshot-load");
      assertThat(e.getMessage()).isEqualTo("the QEMU of domain 'vm1' could not complete "
          + "snapshot-load: Snapshot 's' does not exist");
    });
  }

  @Test
  void runJob_ready_isCompleted() throws Exception {
    Future<?> run = background.submit(() -> monitor.runJob(new QemuJob.BlockCommit("c1", "top",
        "top", "base"), Duration.ofSeconds(WAIT_SECONDS)));
    peer.replyEmpty(peer.takeCommand());
    peer.sendEvent("JOB_STATUS_CHANGE", json("{\"id\":\"c1\",\"status\":\"ready\"}"));
    FakeQmpPeer.Command complete = peer.takeCommand();
    assertThat(complete.name()).isEqualTo("job-complete");
    assertThat(complete.arguments()).isEqualTo(json("{\"id\":\"c1\"}"));
    peer.replyEmpty(complete);
    peer.sendEvent("JOB_STATUS_CHANGE", json("{\"id\":\"c1\",\"status\":\"concluded\"}"));
    peer.reply(peer.takeCommand(), jsonValue("[{\"id\":\"c1\",\"type\":\"commit\","
        + "\"status\":\"concluded\",\"current-progress\":1,\"total-progress\":1}]"));
    peer.replyEmpty(peer.takeCommand());
    run.get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  @Test
  void runJob_neverConcludes_timesOut() throws Exception {
    Future<?> run = background.submit(() -> monitor.runJob(new QemuJob.SnapshotDelete("d1", "s",
        List.of("fmt-vda")), Duration.ofMillis(300)));
    peer.replyEmpty(peer.takeCommand());
    assertThat(failureOf(run)).isInstanceOf(QemuTimeoutException.class)
        .hasMessageContaining("did not finish snapshot-delete");
  }

  // ---- error translation -----------------------------------------------------------------------

  @ParameterizedTest
  @CsvSource({
      "GenericError, GENERIC_ERROR, the QEMU of domain 'vm1' refused blockdev-del: boom",
      "DeviceNotFound, DEVICE_NOT_FOUND, the QEMU of domain 'vm1' refused blockdev-del: boom",
      "DeviceNotActive, DEVICE_NOT_ACTIVE, the QEMU of domain 'vm1' refused blockdev-del: boom",
      "CommandNotFound, COMMAND_NOT_FOUND, the QEMU of domain 'vm1' has no command blockdev-del "
          + "(boom); this needs a newer QEMU on the host",
      "KVMMissingCap, KVM_MISSING_CAP, the QEMU of domain 'vm1' cannot run blockdev-del: the "
          + "host's KVM lacks a capability it needs (boom)",
      "SomethingNew, UNKNOWN, the QEMU of domain 'vm1' refused blockdev-del: boom"})
  void qmpError_everyClass_failedPreconditionWithQemusWords(String wire, ErrorClass kind,
      String message) throws Exception {
    Future<?> call = background.submit(() -> monitor.blockdevDel("n"));
    peer.replyError(peer.takeCommand(), wire, "boom");
    assertThat(failureOf(call))
        .isInstanceOfSatisfying(
            QemuRefusedException.class,
            e -> {
              assertThat(e.kind()).isEqualTo(ErrorKind.WRONG_STATE);
              assertThat(e.errorClass()).isEqualTo(kind);
              assertThat(e.command()).isEqualTo("blockdev-del");
              assertThat(e.description()).isEqualTo("boom");
              assertThat(e.getMessage()).isEqualTo(message);
            });
    assertThat(monitor.isOpen()).as("one refused command leaves the monitor usable").isTrue();
  }

  @Test
  void qemuDies_pendingCommand_qemuGoneNotInternal() throws Exception {
    Future<?> call = background.submit(monitor::cont);
    peer.takeCommand();
    peer.die();
    assertThat(failureOf(call))
        .isInstanceOfSatisfying(
            QemuGoneException.class,
            e -> {
              assertThat(e.kind()).isEqualTo(ErrorKind.WRONG_STATE);
              assertThat(e.getMessage())
                  .startsWith("the QEMU of domain 'vm1' went away")
                  .contains("during cont")
                  .contains("start it again");
            });
    assertThatThrownBy(monitor::stop).as("later commands fail the same way")
        .isInstanceOf(QemuGoneException.class);
  }

  @Test
  void qemuDies_eventWait_qemuGone() throws Exception {
    CompletableFuture<QemuEvent.Migration> end = monitor.nextEvent(QemuEvent.Migration.class,
        null);
    peer.die();
    assertThatThrownBy(() -> monitor.await(end, Duration.ofSeconds(WAIT_SECONDS)))
        .isInstanceOf(QemuGoneException.class);
  }

  @Test
  void noReply_deadlineExceeded_monitorStaysOpen() throws Exception {
    Future<?> call = background.submit(monitor::queryStatus);
    peer.takeCommand(); // and never answer
    assertThat(failureOf(call)).isInstanceOf(QemuTimeoutException.class)
        .hasMessageContaining("did not answer query-status within 2 s");
    assertThat(monitor.isOpen()).isTrue();
  }
}
