package dev.cryo.client;

import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.nio.file.Path;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection to one Cryo server. Thread-safe; create one per server and share it. Close it when
 * done: it owns its gRPC channel.
 *
 * <pre>{@code
 * try (CryoClient cryo = CryoClient.builder().target("127.0.0.1:7600").build()) {
 *   cryo.domains().start("vm1");
 * }
 * }</pre>
 */
public final class CryoClient implements AutoCloseable {
  private final ManagedChannel channel;
  /** Created by the builder for Unix socket targets; null otherwise. */
  private final EventLoopGroup eventLoop;
  /** Local I/O of asynchronous saves, restores and backups (files, caller streams). */
  private final ExecutorService io;
  private final Domains domains;
  private final Snapshots snapshots;
  private final Checkpoints checkpoints;
  private final Backups backups;
  private final Images images;

  private CryoClient(ManagedChannel channel, Channel calls, Duration deadline,
      EventLoopGroup eventLoop) {
    this.channel = channel;
    this.eventLoop = eventLoop;
    this.io = Executors.newCachedThreadPool(new ThreadFactory() {
      private final AtomicInteger count = new AtomicInteger();

      @Override
      public Thread newThread(Runnable r) {
        Thread t = new Thread(r, "cryo-client-io-" + count.incrementAndGet());
        t.setDaemon(true);
        return t;
      }
    });
    this.domains = new DomainsImpl(calls, deadline);
    this.snapshots = new SnapshotsImpl(calls, deadline, domains.async());
    this.checkpoints = new CheckpointsImpl(calls, deadline);
    this.backups = new BackupsImpl(calls, deadline, io);
    this.images = new ImagesImpl(calls, deadline, domains.async(), io);
  }

  /** Starts building a client; {@link Builder#target} is required. */
  public static Builder builder() {
    return new Builder();
  }

  /** Domain lifecycle. */
  public Domains domains() {
    return domains;
  }

  /** Domain snapshots (libvirt's domainsnapshot). */
  public Snapshots snapshots() {
    return snapshots;
  }

  /** Checkpoints: dirty-bitmap starting points for incremental backups. */
  public Checkpoints checkpoints() {
    return checkpoints;
  }

  /** Full and incremental backups, pushed to server files or streamed here. */
  public Backups backups() {
    return backups;
  }

  /** Save and restore through libvirt-compatible save images. */
  public Images images() {
    return images;
  }

  /**
   * Closes the channel, cancelling calls in flight after a short grace period; operations still
   * running then fail with {@code CANCELLED} or {@code UNAVAILABLE}.
   */
  @Override
  public void close() {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
    // After the channel: its last callbacks may still hand chunks to I/O tasks.
    io.shutdown();
    if (eventLoop != null) {
      eventLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }

  /** Builds a {@link CryoClient}. {@link #target} is required. */
  public static final class Builder {
    private String target;
    private Duration deadline = Duration.ofMinutes(2);
    private Path trustedCa;
    private Path clientCertChain;
    private Path clientKey;
    private String bearerToken;

    private Builder() {}

    /**
     * The server: {@code host:port} (any gRPC target string with a port, e.g. {@code
     * dns:///cryo.example:7600}), or {@code unix:///path/to/socket} for a server's Unix socket
     * listener.
     *
     * @throws IllegalArgumentException if it has no port or path
     */
    public Builder target(String target) {
      Objects.requireNonNull(target, "target");
      if (!target.contains(":")) {
        throw new IllegalArgumentException("target must be host:port or unix:///path, got '"
            + target + "'");
      }
      this.target = target;
      return this;
    }

    /** Connect with TLS, trusting server certificates that chain to this CA (PEM). */
    public Builder tls(Path trustedCa) {
      this.trustedCa = Objects.requireNonNull(trustedCa, "trustedCa");
      return this;
    }

    /** Present this client certificate (mutual TLS). PEM chain and PKCS#8 PEM key. */
    public Builder clientCertificate(Path certChain, Path privateKey) {
      this.clientCertChain = Objects.requireNonNull(certChain, "certChain");
      this.clientKey = Objects.requireNonNull(privateKey, "privateKey");
      return this;
    }

    /** Send {@code authorization: Bearer TOKEN} on every call. */
    public Builder bearerToken(String token) {
      Objects.requireNonNull(token, "token");
      if (token.isBlank() || token.contains("\n")) {
        throw new IllegalArgumentException("a bearer token is one non-blank line");
      }
      this.bearerToken = token;
      return this;
    }

    /**
     * Default deadline of each call (default 2 minutes); {@link Domains#withDeadline} overrides it
     * for single calls. Retries of reads happen within it.
     *
     * @throws IllegalArgumentException if zero or negative
     */
    public Builder deadline(Duration deadline) {
      if (deadline.isNegative() || deadline.isZero()) {
        throw new IllegalArgumentException("deadline must be positive, got " + deadline);
      }
      this.deadline = deadline;
      return this;
    }

    /**
     * Connects lazily: no network traffic until the first call, so an unreachable server shows up
     * as {@link CryoException.ErrorCode#UNAVAILABLE} on that call.
     *
     * @throws IllegalStateException if no target was set
     */
    public CryoClient build() {
      if (target == null) {
        throw new IllegalStateException("target is required");
      }
      ChannelCredentials creds = InsecureChannelCredentials.create();
      if (trustedCa != null || clientCertChain != null) {
        TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
        try {
          if (trustedCa != null) {
            tls.trustManager(trustedCa.toFile());
          }
          if (clientCertChain != null) {
            tls.keyManager(clientCertChain.toFile(), clientKey.toFile());
          }
        } catch (IOException e) {
          throw new CryoException(CryoException.ErrorCode.INVALID_ARGUMENT,
              "cannot read TLS files: " + e.getMessage(), e);
        }
        creds = tls.build();
      }
      NettyChannelBuilder builder = NettyChannelBuilder.forTarget(target, creds)
          .defaultServiceConfig(RetryConfig.serviceConfig()).enableRetry()
          // grpc-java's default 1 MiB window holds a saved image's stream to four 256 KiB chunks
          // in flight.
          .flowControlWindow(8 << 20);
      EventLoopGroup unixLoop = null;
      if (target.startsWith("unix:")) {
        unixLoop = new EpollEventLoopGroup(1);
        builder.channelType(EpollDomainSocketChannel.class).eventLoopGroup(unixLoop)
            // grpc-netty sets SO_KEEPALIVE on every client socket; a Unix socket has no such
            // option, and Netty warns "Unknown channel option" on each connect. A null value
            // removes the option from the bootstrap, so it is never applied.
            .withOption(ChannelOption.SO_KEEPALIVE, null);
      }
      ManagedChannel channel = builder.build();
      Channel calls = channel;
      if (bearerToken != null) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
            "Bearer " + bearerToken);
        calls = ClientInterceptors.intercept(channel,
            MetadataUtils.newAttachHeadersInterceptor(headers));
      }
      return new CryoClient(channel, calls, deadline, unixLoop);
    }
  }
}
