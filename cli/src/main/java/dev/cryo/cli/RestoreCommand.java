package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.DomainState;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo restore FILE|-}: restores a domain from a save image, like {@code virsh restore}. */
@Command(name = "restore",
    description = {"Restore a domain from a save image: a local FILE, - (standard input, e.g. "
        + "from 'cryo save DOMAIN -' on another server) or a file on the server (--server-file).",
        "The guest stays paused until the whole image has arrived; Ctrl-C or a broken image "
            + "leaves nothing behind."})
final class RestoreCommand extends ClientCommand {
  /**
   * RestoreDomain answers only at its end, so acceptance is inferred: a refusal (credentials,
   * role, a bad header, a name taken) ends the call within a round trip or the first chunk, and
   * the SDK goes on reading only while the call is open and the server takes bytes (flow
   * control). A stream still being read after this long has been accepted.
   */
  private static final long ACCEPTED_AFTER_NANOS = 1_000_000_000L;

  @Parameters(arity = "0..1", paramLabel = "FILE|-",
      description = "Local image file, or - for standard input.")
  String file;

  @Option(names = "--server-file", paramLabel = "PATH",
      description = "Restore from this image file on the server instead.")
  String serverFile;

  @ArgGroup(exclusive = true)
  Start start;

  static final class Start {
    @Option(names = "--running", required = true,
        description = "Start running, whatever the image says.")
    boolean running;

    @Option(names = "--paused", required = true,
        description = "Leave the restored domain paused.")
    boolean paused;
  }

  @Option(names = "--require-verified",
      description = "Refuse an image whose payload cannot be checked against a digest (from "
          + "virsh save, or from a Cryo older than digest trailers).")
  boolean requireVerified;

  @Option(names = "--xml", paramLabel = "FILE",
      description = "Domain XML to use instead of the image's (same name, UUID, memory, vCPUs; "
          + "e.g. other disk paths).")
  String xml;

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    if ((file == null) == (serverFile == null)) {
      throw new CliException(ExitCodes.USAGE, "give either FILE|- or --server-file PATH", null);
    }
    String replacement = xml == null ? null : Inputs.readText(xml, InputStream.nullInputStream());
    Restored restored;
    try (CancelOnExit exit = new CancelOnExit()) {
      RestoreOptions options = RestoreOptions.defaults()
          .start(start == null ? null : start.running ? DomainState.RUNNING : DomainState.PAUSED)
          .replacementXml(replacement)
          .requireVerified(requireVerified)
          .cancellation(exit.cancellation());
      if (serverFile != null) {
        restored = cryo.images().restoreFromServer(serverFile, options);
      } else {
        long size = file.equals("-") ? -1 : size(file);
        String label = "restoring from " + (file.equals("-") ? "standard input" : file);
        try (InputStream in = file.equals("-") ? System.in : Files.newInputStream(Path.of(file));
            Progress progress = Progress.onStderr(label, size)) {
          restored = cryo.images().restore(new FilterInputStream(in) {
            private long firstRead = -1;

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
              int n = super.read(b, off, len);
              long now = System.nanoTime();
              if (firstRead < 0) {
                firstRead = now;
              } else if (now - firstRead >= ACCEPTED_AFTER_NANOS) {
                progress.accepted();
              }
              if (n > 0) {
                progress.advance(n);
              }
              return n;
            }
          }, null, 0, options);
          progress.accepted(); // the server's answer
        }
      }
    }
    restored.warnings().forEach(w -> System.err.println("cryo: warning: " + w));
    if (out.json()) {
      out.json(Output.restored(restored));
    } else {
      out.line("Domain '" + restored.domain().name() + "' restored from "
          + (serverFile != null ? "server file " + serverFile : file.equals("-")
              ? "standard input" : file) + " (" + Output.state(restored.domain().state())
          + (restored.verified() ? ", digest verified" : "") + ")");
    }
    return ExitCodes.OK;
  }

  private static long size(String file) {
    try {
      return Files.size(Path.of(file));
    } catch (NoSuchFileException e) {
      throw new CliException(ExitCodes.INVALID_INPUT, "no such file: " + file, e);
    } catch (IOException e) {
      throw new CliException(ExitCodes.INVALID_INPUT, "cannot read " + file + ": " + e, e);
    }
  }
}
