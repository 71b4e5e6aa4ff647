package dev.cryo.cli;

import dev.cryo.client.AfterSave;
import dev.cryo.client.CryoClient;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code cryo save DOMAIN [FILE|-]}: saves a running domain's state, like {@code virsh save},
 * into a local file, standard output, a file on the server or the managed save slot.
 */
@Command(name = "save",
    description = {"Save a running or paused domain's memory and device state into a save image: "
        + "a local FILE, - (standard output, e.g. piped into 'cryo restore -' on another "
        + "server), a file on the server (--server-file) or its managed save (--managed).",
        "By default the domain is shut off afterwards, as with virsh save. Ctrl-C cancels: the "
            + "guest carries on and no partial file is left."})
final class SaveCommand extends DomainArgument {
  @Parameters(index = "1", arity = "0..1", paramLabel = "FILE|-",
      description = "Local image file to create, or - for standard output (the default).")
  String file;

  @Option(names = "--server-file", paramLabel = "PATH",
      description = "Save into this file on the server (inside its image folders) instead.")
  String serverFile;

  @Option(names = "--managed",
      description = "Save into the domain's managed save slot; 'start' restores it.")
  boolean managed;

  @Option(names = "--compress", paramLabel = "FORMAT", defaultValue = "raw",
      converter = Compressions.class,
      description = "raw (default), gzip, bzip2, xz, zstd or lz4 (lz4: Cryo only).")
  ImageCompression compression;

  @Option(names = "--level", paramLabel = "N", defaultValue = "0",
      description = "Compression level; 0 (default) for the format's own default.")
  int level;

  @ArgGroup(exclusive = true)
  After after;

  static final class After {
    @Option(names = "--running", required = true,
        description = "Keep the domain running after the save (a copy of its state).")
    boolean running;

    @Option(names = "--paused", required = true,
        description = "Leave the domain paused after the save.")
    boolean paused;
  }

  @Option(names = "--live",
      description = "Copy memory while the guest runs; pause only for the last pass.")
  boolean live;

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    int destinations = (file != null ? 1 : 0) + (serverFile != null ? 1 : 0) + (managed ? 1 : 0);
    if (destinations > 1) {
      throw new CliException(ExitCodes.USAGE, "give one of FILE, --server-file and --managed",
          null);
    }
    if (level < 0) {
      throw new CliException(ExitCodes.USAGE, "--level must be >= 0, got " + level, null);
    }
    String local = destinations == 0 ? "-" : file;
    long memory = cryo.domains().get(domain).memoryBytes();
    SaveSummary summary;
    try (CancelOnExit exit = new CancelOnExit();
        Progress progress = Progress.onStderr("saving " + domain, memory)) {
      long[] seen = {0};
      SaveOptions options = SaveOptions.defaults()
          .compression(compression)
          .level(level)
          .after(after == null ? AfterSave.STOP : after.running ? AfterSave.CONTINUE
              : AfterSave.PAUSED)
          .live(live)
          .cancellation(exit.cancellation())
          .progress(p -> {
            // Called on this thread, in order, by the SDK's save loop.
            progress.accepted();
            progress.advance(Math.max(0, p.processedBytes() - seen[0]));
            seen[0] = Math.max(seen[0], p.processedBytes());
          });
      if (managed) {
        summary = cryo.images().saveManaged(domain, options);
      } else if (serverFile != null) {
        summary = cryo.images().saveToServer(domain, serverFile, options);
      } else {
        try (OutputTarget target = OutputTarget.open(local, false)) {
          summary = cryo.images().save(domain, acceptedOnFirstByte(target.stream(), progress),
              options);
          target.commit();
        }
      }
      progress.accepted(); // the summary is an answer too, for a save too quick to report
      progress.advance(Math.max(0, summary.migrationBytes() - seen[0]));
    }
    // With the image on stdout, the report must not mix into it.
    Output report = local != null && local.equals("-") && !managed && serverFile == null
        ? new Output(out.json(), stderr()) : out;
    String where = managed ? "managed save" : serverFile != null ? "server file " + serverFile
        : local.equals("-") ? "standard output" : local;
    if (report.json()) {
      report.json(Output.saveSummary(summary));
    } else {
      report.line("Domain '" + domain + "' saved to " + where + " (" + Progress.bytes(
          summary.imageBytes()) + ", downtime " + Output.seconds(summary.downtime()) + ")");
    }
    report.flush();
    return ExitCodes.OK;
  }

  /** {@code out}, marking the call accepted when the server's first image bytes arrive. */
  private static OutputStream acceptedOnFirstByte(OutputStream out, Progress progress) {
    return new FilterOutputStream(out) {
      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        progress.accepted();
        out.write(b, off, len);
      }

      @Override
      public void write(int b) throws IOException {
        progress.accepted();
        out.write(b);
      }
    };
  }

  private static PrintStream stderr() {
    return System.err;
  }

  /** Lower-case compression names on the command line. */
  static final class Compressions implements picocli.CommandLine.ITypeConverter<ImageCompression> {
    @Override
    public ImageCompression convert(String value) {
      try {
        return ImageCompression.valueOf(value.toUpperCase(java.util.Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.TypeConversionException("unknown compression '" + value
            + "'; use raw, gzip, bzip2, xz, zstd or lz4");
      }
    }
  }
}
