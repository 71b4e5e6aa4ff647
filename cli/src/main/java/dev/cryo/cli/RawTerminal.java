package dev.cryo.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The controlling terminal in raw mode (no line editing, no echo, no signals from Ctrl-C) while a
 * console session runs, restored on close or when the JVM exits. Uses {@code stty} on the
 * inherited standard input, with argv lists only.
 */
final class RawTerminal implements AutoCloseable {
  private final String saved;
  private final Thread restoreOnExit;
  private boolean closed;

  private RawTerminal(String saved) {
    this.saved = saved;
    this.restoreOnExit = saved == null ? null : new Thread(this::restore, "restore-terminal");
    if (restoreOnExit != null) {
      Runtime.getRuntime().addShutdownHook(restoreOnExit);
    }
  }

  /** Raw mode when stdin and stdout are a terminal; otherwise a no-op handle. */
  static RawTerminal enterIfInteractive() {
    if (System.console() == null) {
      return new RawTerminal(null);
    }
    try {
      String saved = stty(List.of("-g")).strip();
      // Raw input, but keep output processing: guests that end lines with a bare \n (busybox
      // with -opost, as the test guest) would otherwise print a staircase.
      stty(List.of("raw", "-echo", "opost", "onlcr"));
      return new RawTerminal(saved);
    } catch (IOException e) {
      // No stty: still usable, just line-buffered.
      return new RawTerminal(null);
    }
  }

  boolean interactive() {
    return System.console() != null;
  }

  private static String stty(List<String> args) throws IOException {
    List<String> argv = new ArrayList<>();
    argv.add("stty");
    argv.addAll(args);
    Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.INHERIT)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException("stty " + args + " failed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return out;
  }

  private synchronized void restore() {
    if (closed || saved == null) {
      return;
    }
    closed = true;
    try {
      stty(List.of(saved));
    } catch (IOException e) {
      System.err.println("cryo: could not restore the terminal; run 'stty sane'");
    }
  }

  @Override
  public void close() {
    restore();
    if (restoreOnExit != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(restoreOnExit);
      } catch (IllegalStateException e) {
        // Already exiting: the hook runs, and restore() is idempotent.
      }
    }
  }
}
