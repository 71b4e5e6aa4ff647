package dev.cryo.server;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cryo-server}: runs a Cryo server until SIGTERM or Ctrl-C. */
@Command(name = "cryo-server", mixinStandardHelpOptions = true,
    description = "Serves Cryo's gRPC API for the QEMU guests of this host.")
public final class CryoServerMain implements Callable<Integer> {

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Address of the gRPC port (default: ${DEFAULT-VALUE}). Port 0 picks a free "
          + "one and prints it.")
  String listen = "127.0.0.1:" + ServerConfig.DEFAULT_PORT;

  @Option(names = "--state", paramLabel = "DIR",
      description = "State folder: definitions, metadata, saves (default: ${DEFAULT-VALUE}).")
  Path state = Path.of("var", "cryo");

  @Option(names = "--qemu", paramLabel = "PATH",
      description = "QEMU system emulator (default: ${DEFAULT-VALUE}).")
  Path qemu = Path.of("/usr/bin/qemu-system-x86_64");

  @Option(names = "--accel", paramLabel = "auto|kvm|tcg",
      description = "Accelerator for type='kvm' domains (default: ${DEFAULT-VALUE}). auto: KVM "
          + "when /dev/kvm can run a guest, else TCG.")
  String accel = "auto";

  @Option(names = "--image-root", paramLabel = "DIR",
      description = "A folder in which callers may name save image files; repeat for more "
          + "(default: STATE/images). Paths outside, symbolic links resolved, are refused.")
  List<Path> imageRoots = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    AcceleratorPolicy policy;
    try {
      policy = AcceleratorPolicy.valueOf(accel.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--accel must be auto, kvm or tcg, not '" + accel + "'");
    }
    CryoServer server = CryoServer.start(
        new ServerConfig(parseAddress(listen), state, qemu, policy), imageRoots);
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "cryo-shutdown"));
    // Machine-readable line for scripts and the conformance kit that start a server on port 0.
    System.out.println("CRYO_LISTENING port=" + server.port());
    System.out.flush();
    server.awaitTermination();
    return 0;
  }

  static InetSocketAddress parseAddress(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("--listen needs HOST:PORT, got '" + hostPort + "'");
    }
    String host = hostPort.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new InetSocketAddress(host, Integer.parseInt(hostPort.substring(colon + 1)));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new CryoServerMain()).execute(args));
  }
}
