package dev.cryo.cli;

import dev.cryo.client.Console;
import dev.cryo.client.CryoClient;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cryo console DOMAIN}: the guest's serial console on this terminal, as {@code virsh
 * console}: keystrokes go to the guest as they are typed (the terminal is put in raw mode, so
 * Ctrl-C goes to the guest too), output comes back, and Ctrl-] detaches.
 *
 * <p>Without a terminal, standard input is forwarded until Ctrl-] (byte 0x1d) or its end; output
 * is printed until Ctrl-], the domain stops, or the process is killed.
 */
@Command(name = "console",
    description = "Attach to a domain's serial console; Ctrl-] detaches. The guest keeps running.")
final class ConsoleCommand extends DomainArgument {
  /** Ctrl-], virsh's escape character. */
  static final int ESCAPE = 0x1d;

  @Option(names = "--history", paramLabel = "BYTES", defaultValue = "0",
      description = "First replay up to BYTES of earlier output (at most 1048576; default: none).")
  int historyBytes;

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    if (out.json()) {
      throw new CliException(ExitCodes.USAGE, "console is interactive and has no --json output",
          null);
    }
    if (historyBytes < 0 || historyBytes > 1 << 20) {
      throw new CliException(ExitCodes.USAGE, "--history must be 0..1048576, got "
          + historyBytes, null);
    }
    OutputStream stdout = new FileOutputStream(FileDescriptor.out);
    CompletableFuture<Void> detached = new CompletableFuture<>();
    Console console = cryo.domains().console(domain, historyBytes, data -> {
      try {
        stdout.write(data);
        stdout.flush();
      } catch (IOException e) {
        // Our stdout is gone (closed pipe): nobody is watching any more.
        detached.complete(null);
      }
    });
    try (console; RawTerminal terminal = RawTerminal.enterIfInteractive()) {
      if (terminal.interactive()) {
        System.err.print("Connected to domain '" + domain + "'\r\nEscape character is ^] "
            + "(Ctrl + ])\r\n");
      }
      Thread input = new Thread(() -> forwardInput(System.in, console, detached,
          terminal.interactive()), "console-stdin");
      input.setDaemon(true);
      input.start();
      CompletableFuture.anyOf(detached, console.ended()).get();
      if (terminal.interactive()) {
        System.err.print("\r\n");
      }
    } catch (ExecutionException e) {
      // The console failed: unknown domain, server gone. The SDK's exception says which.
      throw e.getCause() instanceof Exception ex ? ex : e;
    }
    if (console.ended().isCompletedExceptionally()) {
      console.ended().join();
    }
    return ExitCodes.OK;
  }

  /** Copies stdin to the guest until Ctrl-]; at its end, detaches only when on a terminal. */
  private static void forwardInput(InputStream in, Console console,
      CompletableFuture<Void> detached, boolean interactive) {
    byte[] buf = new byte[4096];
    try {
      int n;
      while ((n = in.read(buf)) > 0) {
        int escape = indexOf(buf, n, ESCAPE);
        int upTo = escape < 0 ? n : escape;
        if (upTo > 0) {
          console.send(Arrays.copyOf(buf, upTo));
        }
        if (escape >= 0) {
          detached.complete(null);
          return;
        }
      }
      if (interactive) {
        detached.complete(null);
      }
    } catch (IOException | IllegalStateException e) {
      // Stdin failed or the console closed under us: either way this session is over.
      detached.complete(null);
    }
  }

  private static int indexOf(byte[] buf, int len, int b) {
    for (int i = 0; i < len; i++) {
      if (buf[i] == b) {
        return i;
      }
    }
    return -1;
  }
}
