package dev.cryo.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code cryo}: the operator's command line for a Cryo server, with virsh's command names.
 *
 * <p>Each command is one class extending {@link ClientCommand}, listed in {@code subcommands}
 * below. Global options ({@code --target}, {@code --json}) are inherited by every command, so
 * {@code cryo --json list} and {@code cryo list --json} mean the same. Exit codes: {@link
 * ExitCodes}.
 */
@Command(name = "cryo", mixinStandardHelpOptions = true,
    // Every subcommand inherits -h/--help (and -V/--version): 'cryo save --help' prints the
    // usage of save instead of complaining about its missing DOMAIN.
    scope = ScopeType.INHERIT,
    versionProvider = CryoCli.Version.class,
    description = "Define, run and watch QEMU virtual machines on a Cryo server.",
    subcommands = {
        ListCommand.class,
        DefineCommand.class,
        StartCommand.class,
        SuspendCommand.class,
        ChangeMediaCommand.class,
        ResumeCommand.class,
        ShutdownCommand.class,
        DestroyCommand.class,
        UndefineCommand.class,
        DumpXmlCommand.class,
        DomInfoCommand.class,
        DomJobInfoCommand.class,
        DomJobAbortCommand.class,
        EventsCommand.class,
        ConsoleCommand.class,
        SaveCommand.class,
        RestoreCommand.class,
        ImageInfoCommand.class,
        SnapshotCreateCommand.class,
        SnapshotListCommand.class,
        SnapshotInfoCommand.class,
        SnapshotDumpXmlCommand.class,
        SnapshotRevertCommand.class,
        SnapshotDeleteCommand.class,
        CheckpointCreateCommand.class,
        CheckpointListCommand.class,
        CheckpointDeleteCommand.class,
        CheckpointDumpXmlCommand.class,
        BackupCommand.class,
        HelpCommand.class,
    },
    footerHeading = "%nExit codes:%n",
    footer = {
        "  0  success",
        "  1  failure (server error, data loss, anything not listed)",
        "  2  usage: unknown command or option, missing argument",
        "  3  not found: no such domain, snapshot, checkpoint or image",
        "  4  invalid input: bad XML or value, unreadable file",
        "  5  state forbids it: e.g. start a running domain, name taken, domain busy",
        "  6  server unreachable",
        "  7  timed out",
        "  8  permission denied: your role may not do this (e.g. read-only)",
        "  9  unauthenticated: no credentials, or ones the server does not accept",
        "",
        // Lines under 80 columns: picocli wraps longer ones mid-sentence.
        "Connection settings (--target, --tls-ca, --tls-cert, --tls-key,",
        "--token-file) come from the flag, else the environment (CRYO_TARGET,",
        "CRYO_TLS_CA, CRYO_TLS_CERT, CRYO_TLS_KEY, CRYO_TOKEN_FILE), else the config",
        "file ($CRYO_CONFIG, default ~/.config/cryo/cli.properties: target=...,",
        "tls-ca=..., token-file=...).",
        "",
        "'cryo help COMMAND' or 'cryo COMMAND --help' shows one command's options."},
    defaultValueProvider = ConnectionDefaults.class)
public final class CryoCli implements Runnable {
  static final String DEFAULT_TARGET = "127.0.0.1:7600";

  /**
   * The shaded Netty inside gRPC logs through java.util.logging to stderr, e.g. "Unknown channel
   * option 'SO_KEEPALIVE'" on every connection to a Unix socket. A command's stderr is its
   * error line and progress; transport trouble reaches the user as the call's error. Held in a
   * field: java.util.logging forgets the level of a logger nobody references.
   */
  private static final java.util.logging.Logger NETTY_LOG =
      java.util.logging.Logger.getLogger("io.grpc.netty.shaded.io.netty");

  @Spec CommandSpec spec;

  @Option(names = "--target", scope = ScopeType.INHERIT, paramLabel = "HOST:PORT",
      defaultValue = DEFAULT_TARGET,
      description = "The Cryo server: HOST:PORT or unix:///PATH (default: $CRYO_TARGET, the "
          + "config file, else " + DEFAULT_TARGET + ").")
  String target;

  @Option(names = "--tls-ca", scope = ScopeType.INHERIT, paramLabel = "PEM",
      description = "Connect with TLS, trusting this CA for the server's certificate.")
  Path tlsCa;

  @Option(names = "--tls-cert", scope = ScopeType.INHERIT, paramLabel = "PEM",
      description = "Client certificate chain for mutual TLS (with --tls-key).")
  Path tlsCert;

  @Option(names = "--tls-key", scope = ScopeType.INHERIT, paramLabel = "PEM",
      description = "Client private key (PKCS#8) for mutual TLS.")
  Path tlsKey;

  @Option(names = "--token-file", scope = ScopeType.INHERIT, paramLabel = "FILE",
      description = "Send the bearer token in FILE (first line). A file, not a flag, so the "
          + "token never shows in the process list.")
  Path tokenFile;

  @Option(names = "--json", scope = ScopeType.INHERIT,
      description = "Print results as JSON for scripts (events: one object per line).")
  boolean json;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
  }

  /** Runs {@code cryo} with {@code args} and exits with its exit code. */
  public static void main(String[] args) {
    NETTY_LOG.setLevel(java.util.logging.Level.SEVERE);
    System.exit(execute(args, System.out, System.err));
  }

  /** Runs {@code cryo} with {@code args}; returns the exit code. */
  static int execute(String[] args, PrintStream out, PrintStream err) {
    CommandLine cli = new CommandLine(new CryoCli());
    cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
    PrintWriter errWriter = new PrintWriter(err, true, StandardCharsets.UTF_8);
    cli.setErr(errWriter);
    cli.setParameterExceptionHandler((e, a) -> {
      String help = e.getCommandLine().getCommandSpec().qualifiedName();
      errWriter.println("cryo: " + ExitCodes.oneLine(e.getMessage()) + " (see '" + help
          + " --help')");
      return ExitCodes.USAGE;
    });
    cli.setExecutionExceptionHandler((e, c, parsed) -> {
      errWriter.println("cryo: " + ExitCodes.message(e));
      return ExitCodes.of(e);
    });
    return cli.execute(args);
  }

  /** The version from the jar's manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = CryoCli.class.getPackage().getImplementationVersion();
      return new String[] {"cryo " + (v == null ? "(development build)" : v)};
    }
  }
}
