package dev.cryo.server;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import dev.cryo.server.domain.FailPoints;
import dev.cryo.server.domain.JobLimits;
import dev.cryo.server.grpc.StreamLimits;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo-server}: runs a Cryo server until SIGTERM or Ctrl-C. */
@Command(name = "cryo-server", mixinStandardHelpOptions = true,
    description = "Serves Cryo's gRPC API for the QEMU guests of this host.")
public final class CryoServerMain implements Callable<Integer> {

  @Option(names = "--listen", paramLabel = "HOST:PORT|none",
      description = "Address of the gRPC TCP port (default: ${DEFAULT-VALUE}). Port 0 picks a "
          + "free one and prints it. Without TLS only loopback addresses are allowed.")
  String listen = "127.0.0.1:" + ServerConfig.DEFAULT_PORT;

  @Option(names = "--unix-socket", paramLabel = "PATH",
      description = "Also serve on a Unix socket (mode 0660), like libvirtd's sockets.")
  Path unixSocket;

  @Option(names = "--tls-cert", paramLabel = "PEM",
      description = "Server certificate chain; with --tls-key turns on TLS for the TCP port.")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "Server private key (PKCS#8).")
  Path tlsKey;

  @Option(names = "--tls-client-ca", paramLabel = "PEM",
      description = "Require client certificates that chain to this CA (mutual TLS).")
  Path tlsClientCa;

  @Option(names = "--tls-reload-seconds", paramLabel = "N",
      description = "How often the TLS files are re-read (default: ${DEFAULT-VALUE}).")
  long tlsReloadSeconds = 60;

  @Option(names = "--max-jobs", paramLabel = "N",
      description = "Domain jobs running at once on the server (default: ${DEFAULT-VALUE}).")
  int maxJobs = 16;

  @Option(names = "--max-jobs-per-principal", paramLabel = "N",
      description = "Domain jobs running at once per caller (default: ${DEFAULT-VALUE}).")
  int maxJobsPerPrincipal = 8;

  @Option(names = "--max-message-bytes", paramLabel = "N",
      description = "Largest gRPC message accepted (default: ${DEFAULT-VALUE}).")
  int maxMessageBytes = 8 << 20;

  @Option(names = "--image-root", paramLabel = "DIR",
      description = "A folder in which callers may name files: save images, disk images, "
          + "snapshot overlays, backup targets; repeat for more (STATE/images always is one). "
          + "Paths outside, symbolic links resolved, are refused.")
  List<Path> imageRoots = new ArrayList<>();

  @Option(names = "--stream-stall-seconds", paramLabel = "N",
      description = "A streaming call whose client reads or sends nothing for this long while "
          + "the server waits on it is abandoned (DEADLINE_EXCEEDED) and its work stopped: a "
          + "save resumes the guest, a restore kills its QEMU, a backup cleans up, an event "
          + "watch or console is dropped (default: ${DEFAULT-VALUE}).")
  long streamStallSeconds = 300;

  @Option(names = "--stream-buffer-bytes", paramLabel = "N",
      description = "Most bytes one streaming call may hold in the server waiting for a client "
          + "that reads slowly; past it an event watch or console is dropped "
          + "(RESOURCE_EXHAUSTED) (default: ${DEFAULT-VALUE}, at least 4096).")
  long streamBufferBytes = StreamLimits.DEFAULT_BUFFER_BYTES;

  @Option(names = "--max-image-bytes", paramLabel = "N",
      description = "Most image bytes one restore call may stream in (default: ${DEFAULT-VALUE}).")
  long maxImageBytes = 1L << 40;

  @Option(names = "--require-verified-images",
      description = "Refuse (FAILED_PRECONDITION) to restore an image whose payload cannot be "
          + "checked against a digest: images written by libvirt, or by a Cryo older than "
          + "digest trailers, restored without a digest in the call's trailer message.")
  boolean requireVerifiedImages;

  @Option(names = "--access-file", paramLabel = "FILE",
      description = "Who may call: hashed bearer tokens and client certificate subjects, with "
          + "their role (admin, read-only) and domains. Without it anyone who can connect is "
          + "admin.")
  Path accessFile;

  @Option(names = "--access-reload-seconds", paramLabel = "N",
      description = "How often the access file is checked for changes (default: "
          + "${DEFAULT-VALUE}); a change applies once two checks in a row read the same content, "
          + "and at once on SIGHUP. A file that does not parse is logged and the old one kept.")
  long accessReloadSeconds = ServerConfig.DEFAULT_ACCESS_RELOAD.toSeconds();

  @Option(names = "--audit-log", paramLabel = "FILE",
      description = "Append one JSON line per call that changes state or reads guest bytes "
          + "(time, principal, RPC, domain, outcome) to FILE, created mode 0600; reopened on "
          + "SIGHUP for log rotation.")
  Path auditLog;

  @Option(names = "--state", paramLabel = "DIR",
      description = "State folder: definitions, metadata, saves (default: ${DEFAULT-VALUE}).")
  Path state = Path.of("var", "cryo");

  @Option(names = "--qemu", paramLabel = "PATH",
      description = "QEMU system emulator (default: ${DEFAULT-VALUE}).")
  Path qemu = Path.of("/usr/bin/qemu-system-x86_64");

  @Option(names = "--accel", paramLabel = "auto|kvm|tcg",
      description = "Accelerator for type='kvm' domains (default: ${DEFAULT-VALUE}). auto: KVM "
          + "when /dev/kvm can run a guest, else TCG.")
  String accel = "auto";

  @Option(names = "--qemu-user", paramLabel = "USER|none",
      description = "Run QEMU as this unprivileged user, under seccomp (default: "
          + "${DEFAULT-VALUE}, which scripts/serve creates). Needs a server running as root; "
          + "otherwise QEMU runs as the server's user and the log says so. 'none': the "
          + "server's user.")
  String qemuUser = dev.cryo.server.qemu.QemuConfinement.DEFAULT_USER;

  @Option(
      names = "--fail-point",
      paramLabel = "NAME",
      hidden = true,
      description =
          "For tests: hang at this instant and print CRYO_FAIL_POINT NAME, so the "
              + "test can kill -9 the server there.")
  Set<String> failPoints = Set.of();

  @Option(names = "--object-store-bucket", paramLabel = "BUCKET",
      description = "Lets callers save images to and restore them from this S3 bucket "
          + "(SaveDomain object_key, `cryo save vm1 s3://BUCKET/KEY`).")
  String objectStoreBucket;

  @Option(names = "--object-store-endpoint", paramLabel = "URL",
      description = "S3 endpoint (Ceph RGW, MinIO...); default: AWS S3 of the region.")
  java.net.URI objectStoreEndpoint;

  @Option(names = "--object-store-prefix", paramLabel = "PREFIX", defaultValue = "",
      description = "Key prefix every image object lives under (e.g. cryo/host-a/).")
  String objectStorePrefix;

  @Option(names = "--object-store-region", paramLabel = "REGION", defaultValue = "us-east-1",
      description = "Signing region (default: ${DEFAULT-VALUE}).")
  String objectStoreRegion;

  @Option(names = "--object-store-path-style",
      description = "Path-style URLs (http://host/bucket/key), as MinIO and most Ceph RGW need.")
  boolean objectStorePathStyle;

  @Option(names = "--object-store-credentials", paramLabel = "FILE",
      description = "AWS shared credentials file; default: the AWS default provider chain.")
  Path objectStoreCredentials;

  @Option(names = "--object-store-profile", paramLabel = "NAME", defaultValue = "default",
      description = "Profile in --object-store-credentials (default: ${DEFAULT-VALUE}).")
  String objectStoreProfile;

  @Option(names = "--object-store-part-mib", paramLabel = "N", defaultValue = "8",
      description = "Multipart upload part size in MiB, at least 5 (default: ${DEFAULT-VALUE}); "
          + "a save holds three parts in memory.")
  int objectStorePartMib;

  @Override
  public Integer call() throws Exception {
    AcceleratorPolicy policy;
    try {
      policy = AcceleratorPolicy.valueOf(accel.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--accel must be auto, kvm or tcg, not '" + accel + "'");
    }
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--tls-cert and --tls-key go together");
    }
    if (tlsClientCa != null && tlsCert == null) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--tls-client-ca needs --tls-cert and --tls-key");
    }
    if (tlsReloadSeconds <= 0 || accessReloadSeconds <= 0) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--tls-reload-seconds and --access-reload-seconds must be at least 1");
    }
    if (streamStallSeconds <= 0) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--stream-stall-seconds must be at least 1, not " + streamStallSeconds);
    }
    if (streamBufferBytes < StreamLimits.MIN_BUFFER_BYTES) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--stream-buffer-bytes must be at least " + StreamLimits.MIN_BUFFER_BYTES + ", not "
          + streamBufferBytes);
    }
    ServerConfig.Tls tls = tlsCert == null ? null
        : new ServerConfig.Tls(tlsCert, tlsKey, tlsClientCa,
            java.time.Duration.ofSeconds(tlsReloadSeconds));
    ServerConfig.Limits limits = new ServerConfig.Limits(
        new JobLimits(maxJobs, maxJobsPerPrincipal), maxMessageBytes,
        new StreamLimits(java.time.Duration.ofSeconds(streamStallSeconds), streamBufferBytes,
            maxImageBytes));
    dev.cryo.server.store.ObjectStore.Config objectStore = null;
    if (objectStoreBucket != null) {
      try {
        objectStore = new dev.cryo.server.store.ObjectStore.Config(objectStoreEndpoint,
            objectStoreBucket, objectStorePrefix, objectStoreRegion, objectStorePathStyle,
            objectStoreCredentials, objectStoreProfile, objectStorePartMib << 20);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(new CommandLine(this), e.getMessage());
      }
    }
    CryoServer server =
        CryoServer.start(
            new ServerConfig(
                "none".equals(listen) ? null : parseAddress(listen),
                unixSocket,
                state,
                qemu,
                policy,
                tls,
                accessFile,
                limits,
                imageRoots,
                auditLog,
                java.time.Duration.ofSeconds(accessReloadSeconds),
                qemuUser,
                requireVerifiedImages,
                objectStore,
                failPoints(failPoints)));
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "cryo-shutdown"));
    reloadOnHangup(server);
    // Machine-readable line for scripts and the conformance kit that start a server on port 0.
    System.out.println("CRYO_LISTENING port=" + server.port()
        + (unixSocket == null ? "" : " unix=" + unixSocket));
    System.out.flush();
    server.awaitTermination();
    return 0;
  }

  private FailPoints failPoints(Set<String> names) {
    try {
      return new FailPoints(names, System.out);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          new CommandLine(this), "--fail-point: " + e.getMessage());
    }
  }

  /**
   * SIGHUP re-reads the access file and TLS files and reopens the audit log, as for sshd or
   * nginx. Without this handler the JVM treats SIGHUP as a reason to exit.
   */
  @SuppressWarnings("restriction")
  private static void reloadOnHangup(CryoServer server) {
    try {
      sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> server.reload());
    } catch (IllegalArgumentException e) {
      // -Xrs, or a JVM that keeps SIGHUP for itself: changes are still seen by polling.
      System.err.println("SIGHUP cannot be handled here (" + e.getMessage() + "); the access "
          + "file and TLS files are still re-read periodically");
    }
  }

  static InetSocketAddress parseAddress(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("--listen needs HOST:PORT, got '" + hostPort + "'");
    }
    String host = hostPort.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new InetSocketAddress(host, Integer.parseInt(hostPort.substring(colon + 1)));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new CryoServerMain()).execute(args));
  }
}
