package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.AsyncDomains;
import dev.cryo.client.AsyncImages;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Defined;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.Operation;
import dev.cryo.client.Progress;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import dev.cryo.client.StateReason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SDK's asynchronous style against a real server and guest, beside the blocking one: the same
 * calls give the same answers and the same error codes; a streamed save into a local file and a
 * restore from it run as operations and the guest carries on; cancelling an operation's future
 * mid-save cancels the call, and the server undoes the save.
 */
@Timeout(900)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AsyncSdkTest {
  static final String NAME = "async-guest";
  static final String OTHER = "async-other";
  static final long WAIT_S = 240;

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static AsyncDomains asyncDomains;
  static Images images;
  static AsyncImages asyncImages;
  static GuestProbe.Beat beat;

  @BeforeAll
  static void connect() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    asyncDomains = domains.async();
    images = cryo.client().images();
    asyncImages = images.async();
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
      LifecycleCleanup.destroyAndUndefine(domains, OTHER);
    } finally {
      cryo.close();
    }
  }

  static <T> T await(CompletableFuture<T> f) throws Exception {
    return f.get(WAIT_S, TimeUnit.SECONDS);
  }

  /** The failure of {@code f}: a CryoException, as the blocking call would throw. */
  static CryoException failureOf(CompletableFuture<?> f) {
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
        ExecutionException.class, () -> f.get(WAIT_S, TimeUnit.SECONDS));
    assertThat(e.getCause()).isInstanceOf(CryoException.class);
    return (CryoException) e.getCause();
  }

  @Test
  @Order(1)
  void defineStartGetList_bothStyles_sameAnswers() throws Exception {
    Defined defined = await(asyncDomains.define(GuestProbe.xml(NAME, 128, 16)));
    assertThat(defined.domain().name()).isEqualTo(NAME);
    assertThat(defined.domain().state()).isEqualTo(DomainState.SHUTOFF);
    Defined other = domains.define(GuestProbe.xml(OTHER, 128, 16));
    assertThat(other.domain().uuid()).isNotEqualTo(defined.domain().uuid());

    // Both styles see both definitions, with the same facts.
    assertThat(await(asyncDomains.list(Set.of()))).extracting(Domain::name)
        .contains(NAME, OTHER);
    assertThat(domains.list(Set.of())).extracting(Domain::name).contains(NAME, OTHER);
    assertThat(await(asyncDomains.get(OTHER)).uuid()).isEqualTo(other.domain().uuid());
    assertThat(domains.get(NAME).uuid()).isEqualTo(defined.domain().uuid());

    Domain started = await(asyncDomains.start(NAME));
    assertThat(started.state()).isEqualTo(DomainState.RUNNING);
    assertThat(started.pid()).isPositive();
    // The blocking start, paused: QEMU runs, the guest costs no CPU.
    Domain paused = domains.start(OTHER, true, false);
    assertThat(paused.state()).isEqualTo(DomainState.PAUSED);

    assertThat(await(asyncDomains.list(Set.of(DomainState.RUNNING)))).extracting(Domain::name)
        .contains(NAME).doesNotContain(OTHER);
    assertThat(domains.list(Set.of(DomainState.PAUSED))).extracting(Domain::name)
        .contains(OTHER).doesNotContain(NAME);
    assertThat(await(asyncDomains.get(NAME)).state()).isEqualTo(DomainState.RUNNING);
    assertThat(await(asyncDomains.destroy(OTHER)).state()).isEqualTo(DomainState.SHUTOFF);
    await(asyncDomains.undefine(OTHER, true));
    assertThat(domains.list(Set.of())).extracting(Domain::name).doesNotContain(OTHER);

    beat = GuestProbe.awaitBooted(domains, NAME);
  }

  @Test
  @Order(2)
  void errors_sameCodesThroughTheFutureAsThrown() throws Exception {
    assertThat(failureOf(asyncDomains.get("no-such-domain")).code())
        .isEqualTo(ErrorCode.NOT_FOUND);
    assertThat(failureOf(asyncDomains.start("no-such-domain")).code())
        .isEqualTo(ErrorCode.NOT_FOUND);
    assertThatThrownBy(() -> domains.get("no-such-domain"))
        .isInstanceOfSatisfying(CryoException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
    // The guest runs: starting it again is the caller's mistake, in either style.
    CryoException running = failureOf(asyncDomains.start(NAME));
    assertThat(running.code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    assertThatThrownBy(() -> domains.start(NAME))
        .isInstanceOfSatisfying(CryoException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.FAILED_PRECONDITION));
    // A long operation fails the same way.
    Operation<SaveSummary> save = asyncImages.save("no-such-domain",
        temp.resolve("never.save"), SaveOptions.defaults());
    assertThat(failureOf(save.result()).code()).isEqualTo(ErrorCode.NOT_FOUND);
    assertThat(temp.resolve("never.save")).doesNotExist();
    assertNoPartialFiles();
  }

  @Test
  @Order(3)
  void asyncSaveToLocalFile_thenAsyncRestore_guestCarriesOn() throws Exception {
    Path local = temp.resolve("async.save");
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    List<Progress> saveProgress = new CopyOnWriteArrayList<>();
    Operation<SaveSummary> save = asyncImages.save(NAME, local,
        SaveOptions.defaults().compression(ImageCompression.ZSTD)).onProgress(saveProgress::add);
    SaveSummary s = await(save.result());
    assertThat(s.serverPath()).isNull();
    assertThat(s.domain().state()).isEqualTo(DomainState.SHUTOFF);
    assertThat(Files.size(local)).isEqualTo(s.imageBytes());
    assertThat(saveProgress).as("progress reports").isNotEmpty();
    assertThat(save.progress().phase()).isNotEqualTo(Progress.STARTING.phase());
    assertThat(saveProgress).extracting(Progress::doneBytes).isSorted();

    List<Progress> restoreProgress = new CopyOnWriteArrayList<>();
    Operation<Restored> restore = asyncImages.restore(local, RestoreOptions.defaults())
        .onProgress(restoreProgress::add);
    Restored r = await(restore.result());
    assertThat(r.verified()).isTrue();
    assertThat(r.payloadBytes()).isEqualTo(s.payloadBytes());
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    assertThat(r.domain().reason()).isEqualTo(StateReason.RESTORED);
    // Every byte of the file went up, and the progress said so.
    assertThat(restore.progress()).isEqualTo(new Progress("TRANSFER", s.imageBytes(),
        s.imageBytes()));
    assertThat(restoreProgress).isNotEmpty();
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    Files.delete(local);
  }

  @LocalServer("checks the server's state folder for temporary files")
  @Test
  @Order(4)
  void cancelTheFuture_duringStreamedSave_serverUndoesIt() throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    Path local = temp.resolve("cancelled.save");
    // xz is slow enough that the save is still moving memory when the cancel arrives.
    CountDownLatch moving = new CountDownLatch(1);
    Operation<SaveSummary> save = asyncImages.save(NAME, local, SaveOptions.defaults()
        .compression(ImageCompression.XZ).level(6)).onProgress(p -> {
          if (p.phase().equals("TRANSFER") && p.doneBytes() > 0) {
            moving.countDown();
          }
        });
    assertThat(moving.await(WAIT_S, TimeUnit.SECONDS)).as("save progress").isTrue();
    assertThat(domains.job(NAME)).as("the save's job").isPresent()
        .hasValueSatisfying(j -> assertThat(j.operation()).isEqualTo("save"));

    assertThat(save.result().cancel(true)).isTrue();
    assertThatThrownBy(() -> save.result().join()).isInstanceOf(CancellationException.class);

    // The server saw the call end and undid the save: no job, the guest runs on.
    awaitNoJob(NAME);
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
    assertThat(local).doesNotExist();
    assertNoPartialFiles();
    assertNoServerTempFiles();
  }

  @Test
  @Order(5)
  void cancelTheHandle_duringStreamedSave_failsCancelled_blockingSaveThenWorks()
      throws Exception {
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    CountDownLatch moving = new CountDownLatch(1);
    Operation<SaveSummary> save = asyncImages.save(NAME, temp.resolve("handle.save"),
        SaveOptions.defaults().compression(ImageCompression.XZ).level(6)).onProgress(p -> {
          if (p.phase().equals("TRANSFER") && p.doneBytes() > 0) {
            moving.countDown();
          }
        });
    assertThat(moving.await(WAIT_S, TimeUnit.SECONDS)).as("save progress").isTrue();
    save.cancel();
    assertThat(failureOf(save.result()).code()).isEqualTo(ErrorCode.CANCELLED);
    awaitNoJob(NAME);
    assertThat(temp.resolve("handle.save")).doesNotExist();
    assertNoPartialFiles();

    // The blocking style, on the same code, still saves and restores.
    beat = GuestProbe.latest(domains, NAME, beat.checksum());
    Path local = temp.resolve("blocking.save");
    SaveSummary s = images.save(NAME, local, SaveOptions.defaults());
    assertThat(Files.size(local)).isEqualTo(s.imageBytes());
    Restored r = images.restore(local, RestoreOptions.defaults());
    assertThat(r.verified()).isTrue();
    beat = GuestProbe.assertCarriesOn(domains, NAME, beat);
  }

  /** Waits until the server reports no job on {@code name}: it has finished undoing. */
  static void awaitNoJob(String name) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(WAIT_S).toNanos();
    while (domains.job(name).isPresent()) {
      assertThat(System.nanoTime()).as("job on %s still there", name).isLessThan(end);
      Thread.sleep(50);
    }
  }

  /** No temporary file or save socket left in the server's state folder. */
  static void assertNoServerTempFiles() throws java.io.IOException {
    try (Stream<Path> files = Files.walk(cryo.stateDir())) {
      assertThat(files.filter(f -> f.getFileName().toString().endsWith(".tmp")
          || f.getFileName().toString().endsWith(".sock") && f.toString().contains("save"))
          .toList()).isEmpty();
    }
  }

  /** No half-written local image (the SDK's {@code .NAME.part}) anywhere in the test folder. */
  static void assertNoPartialFiles() throws java.io.IOException {
    try (Stream<Path> files = Files.list(temp)) {
      assertThat(files.filter(f -> f.getFileName().toString().endsWith(".part")).toList())
          .isEmpty();
    }
  }
}
