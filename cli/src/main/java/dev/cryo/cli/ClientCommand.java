package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.CryoException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ParentCommand;

/**
 * A {@code cryo} command that talks to the server: subclasses implement {@link #run} and get a
 * connected client and the output in the mode the user chose. Adding a command is one subclass
 * plus its line in {@link CryoCli}'s {@code subcommands}.
 */
abstract class ClientCommand implements Callable<Integer> {
  @ParentCommand CryoCli root;

  /**
   * Does the command's work.
   *
   * @return the exit code, normally {@link ExitCodes#OK}; failures are thrown ({@code
   *     CryoException} from the SDK, {@link CliException} for local problems) and mapped by
   *     {@link ExitCodes}
   */
  abstract int run(CryoClient cryo, Output out) throws Exception;

  /** A client for the global connection options: target, TLS files, bearer token. */
  private CryoClient connect() throws IOException {
    CryoClient.Builder builder = CryoClient.builder().target(root.target);
    if (root.tlsCa != null) {
      builder.tls(root.tlsCa);
    }
    if ((root.tlsCert == null) != (root.tlsKey == null)) {
      throw new CliException(ExitCodes.INVALID_INPUT, "--tls-cert and --tls-key go together", null);
    }
    if (root.tlsCert != null) {
      builder.clientCertificate(root.tlsCert, root.tlsKey);
    }
    if (root.tokenFile != null) {
      List<String> lines = Files.readAllLines(root.tokenFile, StandardCharsets.UTF_8);
      if (lines.isEmpty() || lines.get(0).isBlank()) {
        throw new CliException(ExitCodes.INVALID_INPUT, root.tokenFile + " holds no token", null);
      }
      builder.bearerToken(lines.get(0).strip());
    }
    return builder.build();
  }

  @Override
  public final Integer call() throws Exception {
    Output out = new Output(root.json, System.out);
    try (CryoClient cryo = connect()) {
      return run(cryo, out);
    } catch (CryoException e) {
      if (e.code() == CryoException.ErrorCode.UNAVAILABLE) {
        throw new CliException(ExitCodes.UNAVAILABLE, "cannot reach a Cryo server at "
            + root.target + " (" + ExitCodes.oneLine(e.getMessage()) + "); is it running? Set "
            + "--target or CRYO_TARGET", e);
      }
      throw e;
    } catch (IllegalArgumentException e) {
      // The SDK's builders validate at once; their messages name the bad value.
      throw new CliException(ExitCodes.INVALID_INPUT, e.getMessage(), e);
    } finally {
      out.flush();
    }
  }
}
