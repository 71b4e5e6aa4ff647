package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

/**
 * The server a conformance class runs against: {@code -Dcryo.target=host:port} names a live one;
 * without it the kit starts its own {@link ServerProcess} on a free port with a temporary state
 * folder, and checks at the end that no QEMU process or socket of that folder is left.
 */
final class CryoTarget implements AutoCloseable {
  private final Path stateDir;
  private ServerProcess server;
  private String target;
  private CryoClient client;

  /** Domains a live target had before this kit used it; the kit leaves only those behind. */
  private final Set<String> domainsBefore;

  private CryoTarget(Path stateDir, ServerProcess server, String target) {
    this.stateDir = stateDir;
    this.server = server;
    this.target = target;
    this.client = CryoClient.builder().target(target).build();
    this.domainsBefore = server != null ? Set.of() : domainNames();
  }

  /** The live server {@code -Dcryo.target} names, or empty when the kit starts its own. */
  static String externalTarget() {
    return System.getProperty("cryo.target", "").trim();
  }

  static CryoTarget start(Path tempDir) throws IOException {
    return start(tempDir, List.of());
  }

  /** As {@link #start(Path)}, with more server options for a server this kit starts. */
  static CryoTarget start(Path tempDir, List<String> serverArgs) throws IOException {
    String external = externalTarget();
    if (!external.isEmpty()) {
      if (!serverArgs.isEmpty()) {
        throw new IllegalStateException(
            "this test needs a server started with "
                + serverArgs
                + ", which "
                + external
                + " may not be; mark it @LocalServer");
      }
      return new CryoTarget(null, null, external);
    }
    Path state = tempDir.resolve("state");
    ServerProcess server = ServerProcess.start(state, serverArgs);
    return new CryoTarget(state, server, server.target());
  }

  /** The server process this kit started. */
  ProcessHandle serverProcess() {
    return local("the server's process").handle();
  }

  /** Completes when the server this kit started stops at its {@code --fail-point}. */
  CompletableFuture<String> failPoint() {
    return local("fail points").failPoint();
  }

  /** The state folder of a server this kit started. */
  Path stateDir() {
    local("the server's state folder");
    return stateDir;
  }

  /**
   * An image folder of the server this kit may write files to: {@code STATE/images} of a server
   * it started; for a live server on this host, {@code -Dcryo.target.images}.
   */
  Path imagesDir() {
    if (server != null) {
      return stateDir.resolve("images");
    }
    String dir = System.getProperty("cryo.target.images", "").trim();
    if (dir.isEmpty()) {
      throw new IllegalStateException(
          "this test writes files into an image folder of "
              + target
              + ": name one this kit may write to with -Dcryo.target.images, or mark the "
              + "test @LocalServer");
    }
    return Path.of(dir);
  }

  /**
   * Checks that no guest this kit started is still running: by the server's domain list, and
   * for a server this kit started by its QEMU processes too.
   */
  void assertNoGuestRunning() {
    assertThat(client.domains().list(Set.of(DomainState.RUNNING, DomainState.PAUSED)))
        .extracting(Domain::name)
        .filteredOn(n -> !domainsBefore.contains(n))
        .as("domains active on %s", target)
        .isEmpty();
    if (server != null) {
      assertThat(qemuProcesses()).as("QEMU processes of %s", target).isEmpty();
    }
  }

  CryoClient client() {
    return client;
  }

  String target() {
    return target;
  }

  /** {@code kill -9} the server, then start a new one on the same state folder. */
  void killAndRestart() throws IOException, InterruptedException {
    killAndRestartAfter(() -> { });
  }

  /** {@code kill -9} the server, run {@code whileDown}, then start a new one on the same state. */
  void killAndRestartAfter(Runnable whileDown) throws IOException, InterruptedException {
    local("killing the server");
    client.close();
    server.kill9();
    whileDown.run();
    server = ServerProcess.start(stateDir);
    target = server.target();
    client = CryoClient.builder().target(target).build();
  }

  /**
   * {@code kill -9} the server at once, while calls may be in flight (closing the client first
   * would wait for them), then start a new one on the same state folder.
   */
  void killNowAndRestart() throws IOException, InterruptedException {
    local("killing the server");
    server.kill9();
    client.close();
    server = ServerProcess.start(stateDir);
    target = server.target();
    client = CryoClient.builder().target(target).build();
  }

  /** QEMU processes whose command line mentions this target's state folder. */
  List<ProcessHandle> qemuProcesses() {
    local("the server's QEMU processes");
    String marker = stateDir.toAbsolutePath().toString();
    return ProcessHandle.allProcesses()
        .filter(p -> p.info().commandLine().map(c -> c.contains("qemu-system")
            && c.contains(marker)).orElse(false))
        .toList();
  }

  private Set<String> domainNames() {
    return client.domains().list(Set.of()).stream()
        .map(Domain::name)
        .collect(java.util.stream.Collectors.toSet());
  }

  /** The server this kit started; refuses, naming {@code what}, for a live target. */
  private ServerProcess local(String what) {
    if (server == null) {
      throw new IllegalStateException(
          what + " needs a server this kit starts, not " + target + "; mark the test @LocalServer");
    }
    return server;
  }

  @Override
  public void close() throws Exception {
    if (server == null) {
      Set<String> left = new java.util.TreeSet<>(domainNames());
      left.removeAll(domainsBefore);
      client.close();
      assertThat(left).as("domains the kit left defined on %s", target).isEmpty();
      return;
    }
    client.close();
    server.close();
    List<ProcessHandle> left = qemuProcesses();
    left.forEach(ProcessHandle::destroyForcibly);
    assertThat(left).as("QEMU processes left running by the suite").isEmpty();
    try (Stream<Path> files = Files.walk(stateDir)) {
      assertThat(files.filter(f -> f.toString().endsWith(".sock")).toList())
          .as("sockets left behind").isEmpty();
    }
  }
}
