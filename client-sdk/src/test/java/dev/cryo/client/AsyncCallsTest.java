package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.api.v1.GetDomainResponse;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.SaveDomainRequest;
import dev.cryo.api.v1.SaveDomainResponse;
import dev.cryo.api.v1.SaveProgress;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's side of the async style, against a fake server in-process: a cancelled future
 * or operation cancels its call, failures arrive as CryoExceptions with the server's code, a
 * cancelled save into a local file leaves nothing, and an interrupted blocking call cancels its
 * call. The real server's side (undoing the work) is proven by the conformance kit.
 */
@Timeout(60)
class AsyncCallsTest {
  @TempDir Path temp;
  private final CountDownLatch getCancelled = new CountDownLatch(1);
  private final CountDownLatch getArrived = new CountDownLatch(1);
  private final CountDownLatch saveCancelled = new CountDownLatch(1);
  private final CountDownLatch chunksSent = new CountDownLatch(3);
  private Server server;
  private ManagedChannel channel;
  private ExecutorService io;
  private DomainsImpl domains;
  private ImagesImpl images;

  /** Answers "missing" with NOT_FOUND; never answers any other get, and notes its cancel. */
  private final class SilentDomainService extends DomainServiceGrpc.DomainServiceImplBase {
    @Override
    public void getDomain(GetDomainRequest request, StreamObserver<GetDomainResponse> response) {
      if (request.getName().equals("missing")) {
        response.onError(Status.NOT_FOUND.withDescription("no domain 'missing'")
            .asRuntimeException());
        return;
      }
      ((ServerCallStreamObserver<GetDomainResponse>) response)
          .setOnCancelHandler(getCancelled::countDown);
      getArrived.countDown();
    }
  }

  /** Streams a save's progress and chunks while the client takes them, until cancelled. */
  private final class EndlessImageService extends ImageServiceGrpc.ImageServiceImplBase {
    @Override
    public void saveDomain(SaveDomainRequest request,
        StreamObserver<SaveDomainResponse> response) {
      var call = (ServerCallStreamObserver<SaveDomainResponse>) response;
      call.setOnCancelHandler(saveCancelled::countDown);
      long[] sent = {0};
      call.setOnReadyHandler(() -> {
        while (call.isReady() && !call.isCancelled()) {
          sent[0] += 64 << 10;
          call.onNext(SaveDomainResponse.newBuilder().setProgress(SaveProgress.newBuilder()
              .setProcessedBytes(sent[0]).setEstimatedTotalBytes(1L << 30)).build());
          call.onNext(SaveDomainResponse.newBuilder()
              .setChunk(ByteString.copyFrom(new byte[64 << 10])).build());
          chunksSent.countDown();
        }
      });
    }
  }

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name)
        .addService(new SilentDomainService()).addService(new EndlessImageService())
        .build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    io = Executors.newCachedThreadPool();
    domains = new DomainsImpl(channel, Duration.ofSeconds(30));
    images = new ImagesImpl(channel, Duration.ofSeconds(30), domains.async(), io);
  }

  @AfterEach
  void tearDown() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    io.shutdownNow();
  }

  @Test
  void get_futureCancelled_callCancelledOnServer() throws Exception {
    CompletableFuture<Domain> get = domains.async().get("vm1");
    assertThat(getArrived.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(getCancelled.getCount()).isEqualTo(1);
    assertThat(get.cancel(true)).isTrue();
    assertThat(getCancelled.await(10, TimeUnit.SECONDS)).as("server saw the cancel").isTrue();
  }

  @Test
  void get_notFound_futureFailsWithCryoException() {
    CompletableFuture<Domain> get = domains.async().get("missing");
    assertThatThrownBy(() -> get.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
        .cause().isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(CryoException.ErrorCode.NOT_FOUND);
          assertThat(e.getMessage()).isEqualTo("no domain 'missing'");
        });
    // The blocking call throws the same code and message, from the caller's stack.
    assertThatThrownBy(() -> domains.get("missing"))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(CryoException.ErrorCode.NOT_FOUND);
          assertThat(e.getMessage()).isEqualTo("no domain 'missing'");
          assertThat(e.getStackTrace()).anyMatch(f -> f.getMethodName().startsWith(
              "get_notFound"));
        });
  }

  @Test
  void blockingGet_interrupted_cancelledAndCallCancelled() throws Exception {
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicReference<Boolean> flag = new AtomicReference<>();
    Thread caller = new Thread(() -> {
      try {
        domains.get("vm1");
      } catch (Throwable t) {
        thrown.set(t);
        flag.set(Thread.currentThread().isInterrupted());
      }
    });
    caller.start();
    assertThat(getArrived.await(10, TimeUnit.SECONDS)).isTrue();
    caller.interrupt();
    caller.join(10_000);
    assertThat(thrown.get()).isInstanceOfSatisfying(CryoException.class,
        e -> assertThat(e.code()).isEqualTo(CryoException.ErrorCode.CANCELLED));
    assertThat(flag.get()).as("interrupt flag restored").isTrue();
    assertThat(getCancelled.await(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void saveToLocalFile_futureCancelled_callCancelledAndNoFileLeft() throws Exception {
    Path file = temp.resolve("vm1.save");
    // Wait for the client to have taken a progress report, not just for the server to have
    // sent one: the report counted in progress() comes before the callback.
    CountDownLatch reported = new CountDownLatch(1);
    Operation<SaveSummary> save =
        images
            .async()
            .save("vm1", file, SaveOptions.defaults().progress(p -> reported.countDown()));
    assertThat(reported.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(save.result().cancel(true)).isTrue();
    assertThat(saveCancelled.await(10, TimeUnit.SECONDS)).as("server saw the cancel").isTrue();
    assertThatThrownBy(() -> save.result().join()).isInstanceOf(CancellationException.class);
    assertThat(save.progress().doneBytes()).isPositive();
    // The partial file goes once the write in flight (if any) is done.
    io.shutdown();
    assertThat(io.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    try (Stream<Path> left = Files.list(temp)) {
      assertThat(left.toList()).isEmpty();
    }
  }

  @Test
  void saveToStream_handleCancelled_failsCancelled() throws Exception {
    Operation<SaveSummary> save = images.async().save("vm1",
        java.io.OutputStream.nullOutputStream(), SaveOptions.defaults());
    assertThat(chunksSent.await(10, TimeUnit.SECONDS)).isTrue();
    save.cancel();
    assertThatThrownBy(() -> save.result().join()).cause()
        .isInstanceOfSatisfying(CryoException.class,
            e -> assertThat(e.code()).isEqualTo(CryoException.ErrorCode.CANCELLED));
    assertThat(saveCancelled.await(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void blockingSave_cancellationToken_cancelsCall() throws Exception {
    Cancellation token = new Cancellation();
    CompletableFuture<Throwable> thrown = CompletableFuture.supplyAsync(() -> {
      try {
        images.save("vm1", java.io.OutputStream.nullOutputStream(),
            SaveOptions.defaults().cancellation(token));
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    assertThat(chunksSent.await(10, TimeUnit.SECONDS)).isTrue();
    token.cancel();
    assertThat(thrown.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(CryoException.class,
        e -> assertThat(e.code()).isEqualTo(CryoException.ErrorCode.CANCELLED));
    assertThat(saveCancelled.await(10, TimeUnit.SECONDS)).isTrue();
  }
}
