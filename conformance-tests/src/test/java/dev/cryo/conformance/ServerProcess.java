package dev.cryo.conformance;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A Cryo server in its own JVM, started from this test classpath on a free loopback port with
 * the given state folder. A separate process, so tests can {@code kill -9} it and start another
 * on the same state, as an operator would.
 */
final class ServerProcess implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path log;
  private final CompletableFuture<String> failPoint;

  private ServerProcess(Process process, int port, Path log, CompletableFuture<String> failPoint) {
    this.process = process;
    this.port = port;
    this.log = log;
    this.failPoint = failPoint;
  }

  /**
   * Writes an access file readable by its owner only: the server refuses to start with one that
   * QEMU's unprivileged user could read.
   */
  static Path accessFile(Path file, String entries) throws IOException {
    Files.writeString(file, entries);
    Files.setPosixFilePermissions(file,
        Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
    return file;
  }

  static ServerProcess start(Path stateDir) throws IOException {
    return start(stateDir, List.of("--listen", "127.0.0.1:0"));
  }

  /**
   * Starts a server with these options (a free loopback port unless they say {@code --listen}),
   * plus {@code --state} and the image
   * folders tests use: the folder around the state folder (test disks live there) and the test
   * guest's folder (its kernel and initramfs).
   */
  static ServerProcess start(Path stateDir, List<String> options) throws IOException {
    Files.createDirectories(stateDir);
    // An image folder, like /var/lib/libvirt/images (0711): QEMU's unprivileged user must pass
    // through it to the disks and the state folder's run folders; @TempDir makes it 0700. So
    // must it through the folders above, up to the temporary folder.
    Path tmp = Path.of(System.getProperty("java.io.tmpdir")).toRealPath();
    for (Path p = stateDir.toRealPath().getParent(); p != null && p.startsWith(tmp)
        && !p.equals(tmp); p = p.getParent()) {
      Set<PosixFilePermission> mode = Files.getPosixFilePermissions(p);
      mode.add(PosixFilePermission.OTHERS_EXECUTE);
      Files.setPosixFilePermissions(p, mode);
    }
    // Outside the state folder, which tests delete: the log must survive a failing test.
    Path logs = Path.of("target", "server-logs").toAbsolutePath();
    Files.createDirectories(logs);
    Path log = logs.resolve("server-" + System.currentTimeMillis() + "-"
        + ProcessHandle.current().pid() + ".log");
    List<String> argv = new ArrayList<>();
    argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    argv.add("-Xmx256m");
    // E.g. -Dcryo.server.jvmArgs=-XX:StartFlightRecording=filename=/tmp/cryo.jfr to profile.
    String extra = System.getProperty("cryo.server.jvmArgs", "");
    if (!extra.isBlank()) {
      argv.addAll(List.of(extra.trim().split("\\s+")));
    }
    argv.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
    argv.add("-cp");
    argv.add(System.getProperty("java.class.path"));
    argv.add("dev.cryo.server.CryoServerMain");
    if (!options.contains("--listen")) {
      argv.add("--listen");
      argv.add("127.0.0.1:0");
    }
    argv.addAll(options);
    argv.add("--image-root");
    argv.add(stateDir.toAbsolutePath().getParent().toString());
    argv.add("--image-root");
    argv.add(guestDir().toString());
    argv.add("--state");
    argv.add(stateDir.toString());
    Process p = new ProcessBuilder(argv)
        .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    CompletableFuture<Integer> port = new CompletableFuture<>();
    CompletableFuture<String> failPoint = new CompletableFuture<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  if (line.startsWith("CRYO_LISTENING port=")) {
                    port.complete(
                        Integer.parseInt(
                            line.substring("CRYO_LISTENING port=".length()).split(" ")[0]));
                  } else if (line.startsWith("CRYO_FAIL_POINT ")) {
                    failPoint.complete(line.substring("CRYO_FAIL_POINT ".length()));
                  }
                }
              } catch (IOException e) {
                // Process gone.
              }
              port.completeExceptionally(
                  new IOException("server exited before listening; see " + log));
              failPoint.completeExceptionally(new IOException("server exited; see " + log));
            },
            "server-stdout");
    reader.setDaemon(true);
    reader.start();
    try {
      return new ServerProcess(p, port.get(60, TimeUnit.SECONDS), log, failPoint);
    } catch (Exception e) {
      p.destroyForcibly();
      throw new IOException("Cryo server did not start: " + tail(log), e);
    }
  }

  private static Path guestDir() throws IOException {
    try {
      return TestGuest.dir();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while building the test guest", e);
    }
  }

  String target() {
    return "127.0.0.1:" + port;
  }

  /**
   * The name of the fail point ({@code --fail-point}) the server stopped at, once it prints
   * {@code CRYO_FAIL_POINT}; fails if the server exits first.
   */
  CompletableFuture<String> failPoint() {
    return failPoint;
  }

  ProcessHandle handle() {
    return process.toHandle();
  }

  /** The server's log (its stderr), kept under target/server-logs. */
  Path log() {
    return log;
  }

  /** Kills the server as {@code kill -9} would: no shutdown hook runs. */
  void kill9() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(20, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }

  static String tail(Path log) {
    try {
      String s = Files.readString(log);
      return s.substring(Math.max(0, s.length() - 3000));
    } catch (IOException e) {
      return "(no log)";
    }
  }
}
