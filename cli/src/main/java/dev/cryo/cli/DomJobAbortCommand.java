package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.DomainJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code cryo domjobabort}: aborts the job holding a domain, as {@code virsh domjobabort}. Returns
 * once the job was asked to stop; the job's own call then fails with CANCELLED after undoing its
 * work.
 */
@Command(name = "domjobabort", description = "Abort the long operation (job) a domain is busy "
    + "with, e.g. a snapshot with external memory.")
final class DomJobAbortCommand extends ClientCommand {
  @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name.")
  String domain;

  @Override
  int run(CryoClient cryo, Output out) {
    DomainJob j = cryo.domains().abortJob(domain);
    if (out.json()) {
      out.json(Output.domainJob(j));
    } else {
      out.line("Job '" + j.operation() + "' of domain '" + domain + "' is being aborted");
    }
    return ExitCodes.OK;
  }
}
