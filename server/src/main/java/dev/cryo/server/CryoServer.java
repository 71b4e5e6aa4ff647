package dev.cryo.server;

import dev.cryo.server.domain.Domains;
import dev.cryo.server.grpc.GrpcServices;
import dev.cryo.server.image.ImageRoots;
import dev.cryo.server.image.SaveRestore;
import dev.cryo.server.qemu.HostCapabilities;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Cryo server: the gRPC port and the domains behind it. {@link #close()} stops serving
 * and lets go of the QEMU processes, which keep running for the next server to re-attach.
 */
public final class CryoServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CryoServer.class);

  private final Server server;
  private final Domains domains;
  private final ExecutorService executor;

  /** Runs saves and restores: blocking QEMU and disk I/O, never on gRPC's threads. */
  private final ExecutorService imageExecutor;

  private CryoServer(Server server, Domains domains, ExecutorService executor,
      ExecutorService imageExecutor) {
    this.server = server;
    this.domains = domains;
    this.executor = executor;
    this.imageExecutor = imageExecutor;
  }

  /** Probes the host, loads the state folder, re-attaches to running guests and starts serving. */
  public static CryoServer start(ServerConfig config) throws IOException {
    return start(config, List.of());
  }

  /**
   * As {@link #start(ServerConfig)}, with the folders callers may name image files in
   * (default: {@code STATE/images}).
   */
  public static CryoServer start(ServerConfig config, List<Path> imageRoots) throws IOException {
    HostCapabilities host = HostCapabilities.probe(config.qemuBinary());
    Domains domains = Domains.open(config.stateDir(), host, config.accelerator());
    AtomicInteger threads = new AtomicInteger();
    ExecutorService executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "cryo-grpc-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    NettyServerBuilder builder = NettyServerBuilder.forAddress(config.listen())
        .executor(executor);
    AtomicInteger imageThreads = new AtomicInteger();
    ExecutorService imageExecutor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "cryo-image-" + imageThreads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    ImageRoots roots = new ImageRoots(imageRoots.isEmpty()
        ? List.of(config.stateDir().resolve("images")) : imageRoots);
    GrpcServices.register(builder, domains, new SaveRestore(domains, roots), imageExecutor);
    Server server;
    try {
      server = builder.build().start();
    } catch (IOException e) {
      domains.close();
      executor.shutdownNow();
      imageExecutor.shutdownNow();
      throw new IOException("cannot listen on " + config.listen() + ": " + e.getMessage(), e);
    }
    log.info("Cryo listening on {} with state in {}", server.getListenSockets(),
        config.stateDir().toAbsolutePath());
    return new CryoServer(server, domains, executor, imageExecutor);
  }

  /** The port actually bound (useful when the config asked for port 0). */
  public int port() {
    return ((InetSocketAddress) server.getListenSockets().get(0)).getPort();
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /** Stops serving; waits a little for calls in flight, then cancels them. Guests keep running. */
  @Override
  public void close() {
    server.shutdown();
    try {
      if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
    imageExecutor.shutdownNow();
    domains.close();
    executor.shutdownNow();
  }
}
