package dev.cryo.server;

import dev.cryo.server.auth.AuditLog;
import dev.cryo.server.auth.ReloadingAccessFile;
import dev.cryo.server.checkpoint.Backups;
import dev.cryo.server.checkpoint.Checkpoints;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.grpc.CallsInFlight;
import dev.cryo.server.grpc.CoreServices;
import dev.cryo.server.grpc.GrpcServices;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.QemuCgroups;
import dev.cryo.server.qemu.QemuConfinement;
import dev.cryo.server.qemu.QemuImg;
import dev.cryo.server.snapshot.Snapshots;
import dev.cryo.server.store.ImageRoots;
import dev.cryo.server.store.ObjectStore;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Cryo server: its listeners (a TCP port, a Unix socket, or both) and the domains
 * behind them. {@link #close()} stops serving and lets go of the QEMU processes, which keep
 * running for the next server to re-attach.
 */
public final class CryoServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CryoServer.class);
  /** How long {@link #close()} lets calls in flight finish before cancelling them. */
  private static final java.time.Duration GRACE = java.time.Duration.ofSeconds(5);

  private final List<Server> servers;
  private final Server tcp;
  private final Domains domains;
  /** Closed in reverse order by {@link #close()}. */
  private final List<AutoCloseable> resources;
  /** What {@link #reload()} re-reads; the reloader thread runs it. */
  private final Reloadables reloadables;
  /** What {@link #close()} says it waits for. */
  private final CallsInFlight inFlight;
  private final AtomicBoolean closed = new AtomicBoolean();

  private CryoServer(List<Server> servers, Server tcp, Domains domains,
      List<AutoCloseable> resources, Reloadables reloadables, CallsInFlight inFlight) {
    this.servers = servers;
    this.inFlight = inFlight;
    this.tcp = tcp;
    this.domains = domains;
    this.resources = resources;
    this.reloadables = reloadables;
  }

  /**
   * The files the server re-reads without a restart, and the single thread that does it: the
   * periodic checks and {@link #reload()} never run at once.
   */
  private record Reloadables(ScheduledExecutorService reloader, ReloadingAccessFile access,
      TlsFiles tls, AuditLog audit) {}

  /**
   * Probes the host, loads the state folder, re-attaches to running guests and starts serving.
   *
   * @throws IOException if a listener cannot start, or TCP without TLS is asked for on an address
   *     that is not loopback
   */
  public static CryoServer start(ServerConfig config) throws IOException {
    if (config.listen() != null && config.tls() == null
        && !config.listen().getAddress().isLoopbackAddress()) {
      throw new IOException("refusing to listen on " + config.listen() + " without TLS: anyone "
          + "who reaches that address could pause, read and overwrite every guest of this host. "
          + "Pass --tls-cert and --tls-key (and --tls-client-ca or --access-file to say who may "
          + "call), or listen on 127.0.0.1 or a --unix-socket");
    }
    ReloadingAccessFile access = config.accessFile() == null ? null
        : ReloadingAccessFile.open(config.accessFile());
    HostCapabilities probed = HostCapabilities.probe(config.qemuBinary());
    List<AutoCloseable> resources = new ArrayList<>();
    List<Server> servers = new ArrayList<>();
    ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "cryo-reload");
      t.setDaemon(true);
      return t;
    });
    resources.add(reloader::shutdownNow);
    AuditLog audit = null;
    if (config.auditLog() != null) {
      try {
        audit = AuditLog.open(config.auditLog());
      } catch (IOException e) {
        reloader.shutdownNow();
        throw e;
      }
      resources.add(audit);
    }
    // The state folder may lie inside an image folder (tests put it there; so might an operator):
    // its files are the server's, never a caller's to name.
    ImageRoots roots = new ImageRoots(config.effectiveImageRoots(), List.of(config.stateDir()));
    Domains domains;
    try {
      QemuConfinement confinement = QemuConfinement.create(config.qemuUser(),
          QemuCgroups.detect());
      HostCapabilities host = probed.withoutKvm(confinement.kvmUnusableReason());
      // A guest that escapes QEMU must not learn who may call the server, nor its TLS identity.
      confinement.requireUnreadable(config.accessFile(), "the access file");
      if (config.tls() != null) {
        confinement.requireUnreadable(config.tls().privateKey(), "the TLS key");
      }
      domains = Domains.open(config.stateDir(), host, config.accelerator(),
          config.limits().jobs(), roots, confinement);
    } catch (IOException | RuntimeException e) {
      new CryoServer(servers, null, null, resources, null, new CallsInFlight()).close();
      throw e;
    }
    resources.add(domains);
    Server tcp = null;
    TlsFiles tls = null;
    CallsInFlight inFlight = new CallsInFlight();
    try {
      if (access != null) {
        long period = config.accessReloadPeriod().toMillis();
        reloader.scheduleWithFixedDelay(access::poll, period, period, TimeUnit.MILLISECONDS);
      }
      ExecutorService executor = daemonPool("cryo-grpc-");
      resources.add(executor::shutdownNow);
      CoreServices core = core(config, domains, resources);
      if (config.listen() != null) {
        if (config.tls() != null) {
          tls = new TlsFiles(config.tls());
          long period = config.tls().reloadPeriod().toMillis();
          reloader.scheduleWithFixedDelay(tls::reload, period, period, TimeUnit.MILLISECONDS);
        }
        NettyServerBuilder builder = tls == null
            ? NettyServerBuilder.forAddress(config.listen())
            : NettyServerBuilder.forAddress(config.listen(), tlsCredentials(tls));
        builder.executor(executor).maxInboundMessageSize(config.limits().maxMessageBytes())
            .flowControlWindow(GrpcServices.FLOW_CONTROL_WINDOW).intercept(inFlight);
        GrpcServices.register(builder, core, access, audit);
        tcp = builder.build().start();
        servers.add(tcp);
        log.info("Cryo listening on {}{}", tcp.getListenSockets(),
            config.tls() == null ? " (plaintext, loopback)" : " (TLS)");
      }
      if (config.unixSocket() != null) {
        servers.add(startUnix(config, core, access, audit, executor, resources, inFlight));
      }
    } catch (IOException | RuntimeException e) {
      CryoServer partial = new CryoServer(servers, tcp, domains, resources, null, inFlight);
      partial.close();
      throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
    }
    log.info("state in {}; access control {}; audit log {}", config.stateDir().toAbsolutePath(),
        access == null ? "off" : "from " + config.accessFile() + " (re-read every "
            + config.accessReloadPeriod().toMillis() + " ms and on SIGHUP)",
        audit == null ? "off" : "in " + config.auditLog());
    return new CryoServer(servers, tcp, domains, resources,
        new Reloadables(reloader, access, tls, audit), inFlight);
  }

  /**
   * Re-reads the access file and the TLS files now, and reopens the audit log (after logrotate
   * moved it): what SIGHUP does. Returns at once; the work runs on the reload thread. A file
   * that does not parse is logged and the previous one kept.
   */
  public void reload() {
    Reloadables r = reloadables;
    r.reloader().execute(() -> {
      log.info("reloading on request");
      if (r.access() != null) {
        r.access().reloadNow();
      }
      if (r.tls() != null) {
        r.tls().reload();
      }
      if (r.audit() != null) {
        r.audit().reopen();
      }
    });
  }

  /** Builds the core services once; their executors join {@code resources}. */
  private static CoreServices core(ServerConfig config, Domains domains,
      List<AutoCloseable> resources) throws IOException {
    ExecutorService imageExecutor = daemonPool("cryo-image-");
    resources.add(imageExecutor::shutdownNow);
    ExecutorService backupExecutor = daemonPool("cryo-backup-");
    resources.add(backupExecutor::shutdownNow);
    ScheduledThreadPoolExecutor stallTimer = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "cryo-stream-stall");
      t.setDaemon(true);
      return t;
    });
    // A stream that ends cancels its check: do not keep it (and its call) until it was due.
    stallTimer.setRemoveOnCancelPolicy(true);
    resources.add(stallTimer::shutdownNow);
    Checkpoints checkpoints = new Checkpoints(domains, Clock.systemUTC());
    ObjectStore objects = null;
    if (config.objectStore() != null) {
      objects = ObjectStore.open(config.objectStore());
      resources.add(objects);
    }
    ImageJobs images = new ImageJobs(domains, config.requireVerifiedImages(), objects);
    Snapshots snapshots =
        new Snapshots(
            domains,
            QemuImg.besides(domains.qemuBinary()),
            images,
            checkpoints::requireNoCheckpointsForRevert,
            config.failPoints());
    snapshots.recover();
    return new CoreServices(
        domains,
        images,
        snapshots,
        checkpoints,
        new Backups(domains, checkpoints, backupExecutor),
        imageExecutor,
        backupExecutor,
        config.limits().streams(),
        stallTimer);
  }

  /** A cached pool of daemon threads: a stuck job never keeps the JVM from exiting. */
  private static ExecutorService daemonPool(String prefix) {
    AtomicInteger threads = new AtomicInteger();
    return Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, prefix + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  private static ServerCredentials tlsCredentials(TlsFiles tls) {
    TlsServerCredentials.Builder creds = TlsServerCredentials.newBuilder()
        .keyManager(tls.keyManager());
    if (tls.trustManager() != null) {
      creds.trustManager(tls.trustManager()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
    }
    return creds.build();
  }

  /** A listener on a Unix socket, readable and writable by the owner and group only (0660). */
  private static Server startUnix(ServerConfig config, CoreServices core,
      ReloadingAccessFile access, AuditLog audit, ExecutorService executor,
      List<AutoCloseable> resources, CallsInFlight inFlight) throws IOException {
    Files.deleteIfExists(config.unixSocket());
    Files.createDirectories(config.unixSocket().toAbsolutePath().getParent());
    EventLoopGroup boss = new EpollEventLoopGroup(1);
    EventLoopGroup workers = new EpollEventLoopGroup(2);
    resources.add(() -> workers.shutdownGracefully(0, 1, TimeUnit.SECONDS));
    resources.add(() -> boss.shutdownGracefully(0, 1, TimeUnit.SECONDS));
    NettyServerBuilder builder = NettyServerBuilder
        .forAddress(new DomainSocketAddress(config.unixSocket().toString()))
        .channelType(EpollServerDomainSocketChannel.class)
        // grpc-netty sets SO_KEEPALIVE on every accepted channel; a Unix socket has no such
        // option and Netty warns once per connection. A null value removes it.
        .withChildOption(ChannelOption.SO_KEEPALIVE, null)
        .bossEventLoopGroup(boss)
        .workerEventLoopGroup(workers)
        .executor(executor)
        .maxInboundMessageSize(config.limits().maxMessageBytes())
        .flowControlWindow(GrpcServices.FLOW_CONTROL_WINDOW)
        .intercept(inFlight);
    GrpcServices.register(builder, core, access, audit);
    Server server = builder.build().start();
    Files.setPosixFilePermissions(config.unixSocket(), PosixFilePermissions.fromString("rw-rw----"));
    log.info("Cryo listening on unix:{}", config.unixSocket());
    return server;
  }

  /** The TCP port actually bound (useful when the config asked for port 0); -1 if none. */
  public int port() {
    return tcp == null ? -1 : ((InetSocketAddress) tcp.getListenSockets().get(0)).getPort();
  }

  public void awaitTermination() throws InterruptedException {
    for (Server s : servers) {
      s.awaitTermination();
    }
  }

  /**
   * Stops serving; waits a little for calls in flight, then cancels them. Guests keep running.
   * Says what it does in the log, since it usually runs on SIGTERM with nobody watching.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    Map<String, Integer> calls = inFlight.now();
    log.info("stopping: no new calls; {}", calls.isEmpty() ? "no calls in flight"
        : "waiting up to " + GRACE.toSeconds() + " s for calls in flight " + calls);
    long started = System.nanoTime();
    servers.forEach(Server::shutdown);
    try {
      // One grace period for all listeners, not one each: long-lived calls (event watches,
      // consoles) would otherwise hold a TCP plus Unix-socket server for twice as long.
      long deadline = started + GRACE.toNanos();
      for (Server s : servers) {
        s.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      }
      Map<String, Integer> left = inFlight.now();
      if (!left.isEmpty()) {
        log.info("cancelling calls still in flight after {} s: {}", GRACE.toSeconds(), left);
      }
      servers.forEach(Server::shutdownNow);
      for (Server s : servers) {
        s.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      servers.forEach(Server::shutdownNow);
      Thread.currentThread().interrupt();
    }
    // Before the domains let go of their QEMU processes.
    List<String> running = domains == null ? List.of() : domains.all().stream()
        .filter(d -> d.running() != null).map(Domain::name).sorted().toList();
    for (int i = resources.size() - 1; i >= 0; i--) {
      try {
        resources.get(i).close();
      } catch (Exception e) {
        log.warn("error while stopping", e);
      }
    }
    if (domains != null) {
      log.info("stopped after {} ms; {}", (System.nanoTime() - started) / 1_000_000,
          running.isEmpty() ? "no guests running" : "guests left running for the next server "
              + "to re-attach: " + running);
    } else {
      log.info("stopped");
    }
  }
}
