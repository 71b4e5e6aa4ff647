package dev.cryo.server.qemu;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QEMU process. It runs in its own session ({@code setsid}), so it outlives the server, a
 * {@code kill -9} of the server and a Ctrl-C in the server's terminal alike; a restarted server
 * finds it again with {@link #reattach}. Closing this object releases the server's handles only:
 * stopping the guest is {@link #kill}.
 */
public final class QemuProcess implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(QemuProcess.class);
  private static final int LOG_TAIL_BYTES = 4096;

  private final RunDir run;
  private final ProcessHandle handle;
  /** Set only when this server started the process: its stdin pipe, if one was asked for. */
  private final Process process;

  private QemuProcess(RunDir run, ProcessHandle handle, Process process) {
    this.run = run;
    this.handle = handle;
    this.process = process;
  }

  /**
   * Starts QEMU with {@code argv} (from {@link QemuCommandLine}) in the run folder, which is
   * created if needed and cleared of a previous run's sockets and pid file.
   *
   * @param pipeStdin give QEMU a pipe on stdin, written through {@link #stdin()} (for {@code
   *     -incoming fd:0}); otherwise stdin is {@code /dev/null}
   */
  public static QemuProcess start(List<String> argv, RunDir run, boolean pipeStdin)
      throws IOException {
    Files.createDirectories(run.path());
    Files.deleteIfExists(run.qmpSocket());
    Files.deleteIfExists(run.consoleSocket());
    Files.deleteIfExists(run.pidFile());
    List<String> command = new ArrayList<>(argv.size() + 1);
    command.add("setsid");
    command.addAll(argv);
    ProcessBuilder pb = new ProcessBuilder(command)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(run.qemuLog().toFile()))
        .redirectError(ProcessBuilder.Redirect.appendTo(run.qemuLog().toFile()));
    if (!pipeStdin) {
      pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    }
    Process p = pb.start();
    log.debug("started QEMU pid {}: {}", p.pid(), argv);
    return new QemuProcess(run, p.toHandle(), p);
  }

  /**
   * Finds the QEMU process of a run folder left by an earlier server: its pid file names a live
   * process whose command line holds this folder's QMP socket. Empty if there is none.
   */
  public static Optional<QemuProcess> reattach(RunDir run) {
    long pid;
    try {
      pid = Long.parseLong(Files.readString(run.pidFile(), StandardCharsets.US_ASCII).strip());
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
    Optional<ProcessHandle> handle = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
    if (handle.isEmpty()) {
      return Optional.empty();
    }
    try {
      String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"),
          StandardCharsets.UTF_8);
      if (!cmdline.contains(run.qmpSocket().toString())) {
        log.warn("pid {} from {} is not this domain's QEMU; ignoring it", pid, run.pidFile());
        return Optional.empty();
      }
    } catch (IOException e) {
      return Optional.empty();
    }
    return Optional.of(new QemuProcess(run, handle.get(), null));
  }

  public long pid() {
    return handle.pid();
  }

  public RunDir runDir() {
    return run;
  }

  public boolean isAlive() {
    return handle.isAlive();
  }

  /** Completes when the process has exited. */
  public CompletableFuture<ProcessHandle> onExit() {
    return process != null ? process.onExit().thenApply(Process::toHandle) : handle.onExit();
  }

  /** QEMU's stdin, when started with {@code pipeStdin}. */
  public OutputStream stdin() {
    if (process == null) {
      throw new IllegalStateException("this QEMU was not started by this server");
    }
    return process.getOutputStream();
  }

  /**
   * Waits until QEMU has created its QMP socket, or fails with what QEMU printed if it exits
   * first (a bad disk path, say). Polls the file system: QEMU gives no other sign.
   */
  public void awaitQmpSocket(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!Files.exists(run.qmpSocket())) {
      if (!isAlive()) {
        throw new IOException("QEMU exited at start: " + logTail());
      }
      if (System.nanoTime() > deadline) {
        throw new IOException("QEMU did not open its QMP socket within " + timeout);
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for QEMU", e);
      }
    }
  }

  /**
   * Stops the process: SIGTERM, then SIGKILL after {@code grace} (zero: SIGKILL at once). Returns
   * once it has exited.
   */
  public void kill(Duration grace) {
    if (!grace.isZero()) {
      handle.destroy();
      if (awaitExit(grace)) {
        return;
      }
    }
    handle.destroyForcibly();
    if (!awaitExit(Duration.ofSeconds(10))) {
      log.error("QEMU pid {} survived SIGKILL for 10 s", pid());
    }
  }

  /** Waits up to {@code timeout} for the process to exit; true if it did. */
  public boolean awaitExit(Duration timeout) {
    try {
      onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (ExecutionException e) {
      return !isAlive();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !isAlive();
    }
  }

  /** The last lines QEMU printed, for error messages. */
  public String logTail() {
    try (RandomAccessFile f = new RandomAccessFile(run.qemuLog().toFile(), "r")) {
      long start = Math.max(0, f.length() - LOG_TAIL_BYTES);
      byte[] buf = new byte[(int) (f.length() - start)];
      f.seek(start);
      f.readFully(buf);
      return new String(buf, StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      return "(no QEMU log)";
    }
  }

  /** Releases the server's side of QEMU's stdin. The process keeps running. */
  @Override
  public void close() {
    if (process != null) {
      try {
        process.getOutputStream().close();
      } catch (IOException e) {
        log.debug("closing QEMU stdin", e);
      }
    }
  }
}
