package dev.cryo.client;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

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
  private final Domains domains;
  private final Images images;

  private CryoClient(ManagedChannel channel, Duration deadline) {
    this.channel = channel;
    this.domains = new DomainsImpl(channel, deadline);
    this.images = new ImagesImpl(channel, deadline, domains);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Domain lifecycle. */
  public Domains domains() {
    return domains;
  }

  /** Save and restore through libvirt-compatible save images. */
  public Images images() {
    return images;
  }

  /** Closes the channel, cancelling calls in flight after a short grace period. */
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
  }

  /** Builds a {@link CryoClient}. {@link #target} is required. */
  public static final class Builder {
    private String target;
    private Duration deadline = Duration.ofMinutes(2);

    private Builder() {}

    /** The server, as {@code host:port}. */
    public Builder target(String target) {
      Objects.requireNonNull(target, "target");
      if (!target.contains(":")) {
        throw new IllegalArgumentException("target must be host:port, got '" + target + "'");
      }
      this.target = target;
      return this;
    }

    /** Deadline of each short call (default 2 minutes). */
    public Builder deadline(Duration deadline) {
      if (deadline.isNegative() || deadline.isZero()) {
        throw new IllegalArgumentException("deadline must be positive, got " + deadline);
      }
      this.deadline = deadline;
      return this;
    }

    public CryoClient build() {
      if (target == null) {
        throw new IllegalStateException("target is required");
      }
      ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
      return new CryoClient(channel, deadline);
    }
  }
}
