package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.CryoClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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

  private CryoTarget(Path stateDir, ServerProcess server, String target) {
    this.stateDir = stateDir;
    this.server = server;
    this.target = target;
    this.client = CryoClient.builder().target(target).build();
  }

  static CryoTarget start(Path tempDir) throws IOException {
    return start(tempDir, List.of());
  }

  /** As {@link #start(Path)}, with more server options for a server this kit starts. */
  static CryoTarget start(Path tempDir, List<String> serverArgs) throws IOException {
    String external = System.getProperty("cryo.target", "");
    if (!external.isBlank()) {
      return new CryoTarget(null, null, external);
    }
    Path state = tempDir.resolve("state");
    ServerProcess server = ServerProcess.start(state, serverArgs);
    return new CryoTarget(state, server, server.target());
  }

  /** The server process this kit started; null for an external target. */
  ProcessHandle serverProcess() {
    return server == null ? null : server.handle();
  }

  /** True when this kit started the server, so it may kill and restart it. */
  boolean ownsServer() {
    return server != null;
  }

  /** The state folder of a server this kit started; null for an external target. */
  Path stateDir() {
    return stateDir;
  }

  /** The default image folder of a server this kit started ({@code STATE/images}). */
  Path imagesDir() {
    return stateDir == null ? null : stateDir.resolve("images");
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
    if (server == null) {
      throw new IllegalStateException("cannot restart a server this kit did not start");
    }
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
    if (server == null) {
      throw new IllegalStateException("cannot restart a server this kit did not start");
    }
    server.kill9();
    client.close();
    server = ServerProcess.start(stateDir);
    target = server.target();
    client = CryoClient.builder().target(target).build();
  }

  /** QEMU processes whose command line mentions this target's state folder. */
  List<ProcessHandle> qemuProcesses() {
    if (stateDir == null) {
      return List.of();
    }
    String marker = stateDir.toAbsolutePath().toString();
    return ProcessHandle.allProcesses()
        .filter(p -> p.info().commandLine().map(c -> c.contains("qemu-system")
            && c.contains(marker)).orElse(false))
        .toList();
  }

  @Override
  public void close() throws Exception {
    client.close();
    if (server == null) {
      return;
    }
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
