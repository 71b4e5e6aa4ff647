package dev.cryo.server;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import dev.cryo.server.domain.FailPoints;
import dev.cryo.server.domain.JobLimits;
import dev.cryo.server.grpc.StreamLimits;
import dev.cryo.server.store.ObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How a Cryo server runs.
 *
 * @param listen address of the gRPC TCP port, or null for none; port 0 picks a free one
 * @param unixSocket path of a gRPC Unix socket listener, or null for none
 * @param stateDir where definitions, metadata, managed saves and run folders live
 * @param qemuBinary the emulator; never taken from a caller
 * @param accelerator how {@code type='kvm'} domains pick KVM or TCG
 * @param tls TLS for the TCP port, or null for plaintext (then only loopback is allowed)
 * @param accessFile who may call (tokens, client certificates), or null: no authentication
 * @param limits concurrency and size limits
 * @param imageRoots the folders in which callers may name files (save images, disk images,
 *     snapshot overlays, backup targets), besides {@code STATE/images} which always is one
 * @param auditLog where to append one JSON line per call that changes state or reads guest
 *     bytes, or null for no audit log
 * @param accessReloadPeriod how often the access file is checked for changes (null: 2 s); a
 *     change applies once two checks in a row read the same content
 * @param qemuUser the user QEMU runs as ({@code QemuConfinement.DEFAULT_USER} by default), or
 *     {@code "none"} for the server's own user
 * @param requireVerifiedImages refuse to restore an image whose payload cannot be checked
 *     against a digest (libvirt's images, Cryo's from before digest trailers)
 * @param failPoints where to stop for a test that kills the server at an exact instant; {@link
 *     FailPoints#NONE} but in tests
 * @param objectStore the S3-compatible store images may also be saved to, or null for none
 */
public record ServerConfig(
    InetSocketAddress listen,
    Path unixSocket,
    Path stateDir,
    Path qemuBinary,
    AcceleratorPolicy accelerator,
    Tls tls,
    Path accessFile,
    Limits limits,
    List<Path> imageRoots,
    Path auditLog,
    Duration accessReloadPeriod,
    String qemuUser,
    boolean requireVerifiedImages,
    ObjectStore.Config objectStore,
    FailPoints failPoints) {

  public static final int DEFAULT_PORT = 7600;
  /** Reading a small file every two seconds costs nothing; a revocation applies within 4 s. */
  public static final Duration DEFAULT_ACCESS_RELOAD = Duration.ofSeconds(2);

  /** The image folders to use: {@code STATE/images}, then the configured ones. */
  public List<Path> effectiveImageRoots() {
    List<Path> all = new java.util.ArrayList<>();
    all.add(stateDir.resolve("images"));
    all.addAll(imageRoots);
    return all;
  }

  public ServerConfig {
    Objects.requireNonNull(stateDir, "stateDir");
    Objects.requireNonNull(qemuBinary, "qemuBinary");
    Objects.requireNonNull(accelerator, "accelerator");
    Objects.requireNonNull(limits, "limits");
    imageRoots = List.copyOf(imageRoots);
    if (accessReloadPeriod == null) {
      accessReloadPeriod = DEFAULT_ACCESS_RELOAD;
    }
    if (accessReloadPeriod.isNegative() || accessReloadPeriod.isZero()) {
      throw new IllegalArgumentException("accessReloadPeriod must be positive, got "
          + accessReloadPeriod);
    }
    Objects.requireNonNull(qemuUser, "qemuUser");
    Objects.requireNonNull(failPoints, "failPoints");
    if (listen == null && unixSocket == null) {
      throw new IllegalArgumentException("nothing to listen on: give a TCP address or a Unix "
          + "socket");
    }
  }

  /** A plain local server: TCP on {@code listen}, no TLS, no authentication. */
  public static ServerConfig local(InetSocketAddress listen, Path stateDir) {
    return new ServerConfig(
        listen,
        null,
        stateDir,
        Path.of("/usr/bin/qemu-system-x86_64"),
        AcceleratorPolicy.AUTO,
        null,
        null,
        Limits.DEFAULT,
        List.of(),
        null,
        null,
        dev.cryo.server.qemu.QemuConfinement.DEFAULT_USER,
        false,
        null,
        FailPoints.NONE);
  }

  /**
   * Limits that keep one caller from exhausting the host.
   *
   * @param jobs domain jobs (start, save, restore, snapshot, backup...) running at once
   * @param jobsPerPrincipal the same, per authenticated principal
   * @param maxMessageBytes largest gRPC message accepted
   * @param streams limits every streaming call is held to: stalls, buffered bytes, image size
   */
  public record Limits(JobLimits jobs, int maxMessageBytes, StreamLimits streams) {
    public static final Limits DEFAULT = new Limits(JobLimits.DEFAULT, 8 << 20,
        StreamLimits.DEFAULT);

    public Limits {
      Objects.requireNonNull(jobs, "jobs");
      Objects.requireNonNull(streams, "streams");
      if (maxMessageBytes < 64 << 10) {
        throw new IllegalArgumentException("maxMessageBytes must be at least 64 KiB, got "
            + maxMessageBytes);
      }
    }
  }

  /**
   * TLS files, re-read every {@code reloadPeriod} (default a minute) so certificates can be
   * renewed without a restart.
   *
   * @param clientCa CA that client certificates must chain to; null: no client certificates
   *     asked for (callers then need a bearer token when an access file is set)
   */
  public record Tls(Path certChain, Path privateKey, Path clientCa, Duration reloadPeriod) {
    public Tls {
      Objects.requireNonNull(certChain, "certChain");
      Objects.requireNonNull(privateKey, "privateKey");
      if (reloadPeriod == null) {
        reloadPeriod = Duration.ofMinutes(1);
      }
      if (reloadPeriod.isNegative() || reloadPeriod.isZero()) {
        throw new IllegalArgumentException("TLS reloadPeriod must be positive, got "
            + reloadPeriod);
      }
    }
  }
}
