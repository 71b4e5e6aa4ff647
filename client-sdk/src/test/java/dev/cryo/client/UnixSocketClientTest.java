package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.api.v1.Domain;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.bootstrap.Bootstrap;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client on a {@code unix://} target talks over a real Unix socket and connects without
 * Netty's "Unknown channel option" warning (grpc-netty's TCP default SO_KEEPALIVE does not apply
 * to Unix sockets). Netty logs through java.util.logging here: the SDK has no SLF4J binding.
 */
@Timeout(60)
class UnixSocketClientTest {
  @TempDir Path temp;

  private static final class OneDomainService extends DomainServiceGrpc.DomainServiceImplBase {
    @Override
    public void listDomains(ListDomainsRequest request,
        StreamObserver<ListDomainsResponse> response) {
      response.onNext(ListDomainsResponse.newBuilder()
          .addDomains(Domain.newBuilder().setName("vm1")).build());
      response.onCompleted();
    }
  }

  @Test
  void unixTarget_connectsWithoutUnknownChannelOptionWarning() throws Exception {
    Path socket = temp.resolve("cryo.sock");
    EventLoopGroup serverLoop = new EpollEventLoopGroup(1);
    Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
        .channelType(EpollServerDomainSocketChannel.class)
        .bossEventLoopGroup(serverLoop).workerEventLoopGroup(serverLoop)
        .addService(new OneDomainService()).build().start();
    // The client's connect goes through Netty's Bootstrap, which logs unknown options there.
    Logger bootstrapLog = Logger.getLogger(Bootstrap.class.getName());
    List<LogRecord> warnings = new CopyOnWriteArrayList<>();
    Handler recorder = new Handler() {
      @Override
      public void publish(LogRecord record) {
        if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
          warnings.add(record);
        }
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    bootstrapLog.addHandler(recorder);
    try (CryoClient cryo = CryoClient.builder().target("unix://" + socket).build()) {
      assertThat(cryo.domains().list(Set.of())).extracting(d -> d.name()).containsExactly("vm1");
    } finally {
      bootstrapLog.removeHandler(recorder);
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      serverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
    assertThat(warnings).extracting(LogRecord::getMessage)
        .noneMatch(m -> m.contains("Unknown channel option"));
  }
}
