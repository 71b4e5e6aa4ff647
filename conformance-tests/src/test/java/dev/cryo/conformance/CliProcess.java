package dev.cryo.conformance;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The real {@code cryo} launcher at the repository root, run as a user would: {@code bash cryo
 * --target T ARGS}, with the jar the reactor packaged ({@code cli/target/cryo.jar}).
 */
final class CliProcess implements AutoCloseable {
  private final Process process;
  private final BlockingQueue<String> stdoutLines = new LinkedBlockingQueue<>();
  private final BlockingQueue<String> stderrLines = new LinkedBlockingQueue<>();
  private final StringBuffer stdout = new StringBuffer();
  private final StringBuffer stderr = new StringBuffer();
  private final CompletableFuture<Void> stdoutDone;
  private final CompletableFuture<Void> stderrDone;

  /** What a finished command left. */
  record Result(int exitCode, String stdout, String stderr) {
    List<String> stderrLines() {
      return stderr.lines().toList();
    }
  }

  private CliProcess(Process process) {
    this.process = process;
    this.stdoutDone = pump(process.getInputStream(), stdout, stdoutLines);
    this.stderrDone = pump(process.getErrorStream(), stderr, stderrLines);
  }

  static Path launcher() {
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    Path launcher = root.resolve("cryo");
    Path jar = root.resolve("cli/target/cryo.jar");
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " is missing: run the reactor through 'package' "
          + "(mvn -B verify), not just 'test'");
    }
    return launcher;
  }

  /** Starts {@code cryo ARGS} with {@code --target target} in front. */
  static CliProcess start(String target, String... args) throws IOException {
    return start(java.util.Map.of(), target, args);
  }

  /** As {@link #start(String, String...)}, with extra environment variables. */
  static CliProcess start(java.util.Map<String, String> env, String target, String... args)
      throws IOException {
    List<String> argv = new ArrayList<>(List.of("bash", launcher().toString()));
    if (target != null) {
      argv.add("--target");
      argv.add(target);
    }
    argv.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(argv);
    pb.environment().remove("CRYO_TARGET");
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().putAll(env);
    return new CliProcess(pb.start());
  }

  /** Runs {@code cryo ARGS} to completion, feeding {@code stdin} (or nothing) to it. */
  static Result run(String target, String stdin, String... args) throws Exception {
    return run(java.util.Map.of(), target, stdin, args);
  }

  /** As {@link #run(String, String, String...)}, with extra environment variables. */
  static Result run(java.util.Map<String, String> env, String target, String stdin,
      String... args) throws Exception {
    try (CliProcess p = start(env, target, args)) {
      if (stdin != null) {
        p.stdin().write(stdin.getBytes(StandardCharsets.UTF_8));
      }
      p.stdin().close();
      return p.await(Duration.ofSeconds(120));
    }
  }

  /** The process id of the JVM (the launcher execs it), e.g. to send it SIGINT. */
  long pid() {
    return process.pid();
  }

  OutputStream stdin() {
    return process.getOutputStream();
  }

  /** Waits for a line of standard output matching {@code pattern}; fails after {@code timeout}. */
  String awaitStdout(Pattern pattern, Duration timeout) throws InterruptedException {
    return awaitLine(stdoutLines, pattern, timeout, "stdout");
  }

  /** Waits for a line of standard error matching {@code pattern}; fails after {@code timeout}. */
  String awaitStderr(Pattern pattern, Duration timeout) throws InterruptedException {
    return awaitLine(stderrLines, pattern, timeout, "stderr");
  }

  private String awaitLine(BlockingQueue<String> lines, Pattern pattern, Duration timeout,
      String which) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      String line = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      if (line == null) {
        throw new AssertionError("no " + which + " line matched /" + pattern + "/ within "
            + timeout + "; stdout: " + stdout + "; stderr: " + stderr);
      }
      if (pattern.matcher(line).find()) {
        return line;
      }
    }
  }

  /** Waits for the process to exit and for its output to be read. */
  Result await(Duration timeout) throws Exception {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("cryo did not exit within " + timeout + "; stdout: " + stdout
          + "; stderr: " + stderr);
    }
    stdoutDone.get(10, TimeUnit.SECONDS);
    stderrDone.get(10, TimeUnit.SECONDS);
    return new Result(process.exitValue(), stdout.toString(), stderr.toString());
  }

  @Override
  public void close() {
    process.destroyForcibly();
  }

  private static CompletableFuture<Void> pump(InputStream in, StringBuffer all,
      BlockingQueue<String> lines) {
    return CompletableFuture.runAsync(() -> {
      StringBuilder line = new StringBuilder();
      byte[] buf = new byte[8192];
      try {
        int n;
        while ((n = in.read(buf)) > 0) {
          String s = new String(buf, 0, n, StandardCharsets.UTF_8);
          all.append(s);
          for (char c : s.toCharArray()) {
            if (c == '\n') {
              lines.add(line.toString());
              line.setLength(0);
            } else {
              line.append(c);
            }
          }
        }
      } catch (IOException e) {
        // Process gone.
      }
      if (line.length() > 0) {
        lines.add(line.toString());
      }
    }, runnable -> {
      Thread t = new Thread(runnable, "cli-output");
      t.setDaemon(true);
      t.start();
    });
  }
}
