package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.api.v1.GetDomainResponse;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.StartDomainRequest;
import dev.cryo.api.v1.StartDomainResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The channel's service config retries reads, never writes, and per-call deadlines apply. A fake
 * server in-process: this is about the client's own behaviour, not the server's.
 */
@Timeout(60)
class RetryAndDeadlineTest {
  private final AtomicInteger listCalls = new AtomicInteger();
  private final AtomicInteger startCalls = new AtomicInteger();
  private Server server;
  private ManagedChannel channel;
  private Domains domains;

  /** Fails the first two lists and every start with UNAVAILABLE; never answers a get. */
  private final class FlakyDomainService extends DomainServiceGrpc.DomainServiceImplBase {
    @Override
    public void listDomains(ListDomainsRequest request,
        StreamObserver<ListDomainsResponse> response) {
      if (listCalls.incrementAndGet() <= 2) {
        response.onError(Status.UNAVAILABLE.withDescription("restarting").asRuntimeException());
        return;
      }
      response.onNext(ListDomainsResponse.newBuilder()
          .addDomains(dev.cryo.api.v1.Domain.newBuilder().setName("vm1")).build());
      response.onCompleted();
    }

    @Override
    public void startDomain(StartDomainRequest request,
        StreamObserver<StartDomainResponse> response) {
      startCalls.incrementAndGet();
      response.onError(Status.UNAVAILABLE.withDescription("restarting").asRuntimeException());
    }

    @Override
    public void getDomain(GetDomainRequest request, StreamObserver<GetDomainResponse> response) {
      // Never answers: only the deadline ends the call.
    }
  }

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(new FlakyDomainService()).build().start();
    channel = InProcessChannelBuilder.forName(name)
        .defaultServiceConfig(RetryConfig.serviceConfig()).enableRetry().build();
    domains = new DomainsImpl(channel, Duration.ofSeconds(30));
  }

  @AfterEach
  void tearDown() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void list_serverUnavailableTwice_retriedAndSucceeds() {
    assertThat(domains.list(Set.of())).extracting(Domain::name).containsExactly("vm1");
    assertThat(listCalls).hasValue(3);
  }

  @Test
  void start_serverUnavailable_notRetried() {
    assertThatThrownBy(() -> domains.start("vm1"))
        .isInstanceOfSatisfying(CryoException.class,
            e -> assertThat(e.code()).isEqualTo(CryoException.ErrorCode.UNAVAILABLE));
    assertThat(startCalls).hasValue(1);
  }

  @Test
  void withDeadline_serverSilent_deadlineExceededInTime() {
    long start = System.nanoTime();
    assertThatThrownBy(() -> domains.withDeadline(Duration.ofMillis(300)).get("vm1"))
        .isInstanceOfSatisfying(CryoException.class,
            e -> assertThat(e.code()).isEqualTo(CryoException.ErrorCode.DEADLINE_EXCEEDED));
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void withDeadline_zero_rejected() {
    assertThatThrownBy(() -> domains.withDeadline(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PT0S");
  }
}
