package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.DomainJob;
import java.util.Locale;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code cryo domjobinfo}: the job holding a domain and its progress, as {@code virsh
 * domjobinfo} shows it ("Job type: None" when there is none).
 */
@Command(name = "domjobinfo", description = "Show the long operation (job) a domain is busy with "
    + "and its progress.")
final class DomJobInfoCommand extends ClientCommand {
  @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name.")
  String domain;

  @Override
  int run(CryoClient cryo, Output out) {
    Optional<DomainJob> job = cryo.domains().job(domain);
    if (out.json()) {
      out.json(job.map(Output::domainJob).orElseGet(com.google.gson.JsonObject::new));
      return ExitCodes.OK;
    }
    if (job.isEmpty()) {
      row(out, "Job type", "None");
      return ExitCodes.OK;
    }
    print(out, job.get());
    return ExitCodes.OK;
  }

  static void print(Output out, DomainJob j) {
    row(out, "Job type", j.abortRequested() ? "Aborting" : "Unbounded");
    row(out, "Operation", j.operation());
    row(out, "Time elapsed", j.elapsed().toMillis() + " ms");
    row(out, "Phase", j.phase().isEmpty() ? "-" : j.phase());
    if (j.processedBytes() > 0 || j.totalBytes() > 0) {
      row(out, "Data processed", mibs(j.processedBytes()));
    }
    if (j.totalBytes() > 0) {
      row(out, "Data remaining", mibs(Math.max(0, j.totalBytes() - j.processedBytes())));
      row(out, "Data total", mibs(j.totalBytes()));
    }
    row(out, "Abortable", j.abortable() ? "yes" : "no");
  }

  private static String mibs(long bytes) {
    return String.format(Locale.ROOT, "%.3f MiB", bytes / 1048576.0);
  }

  private static void row(Output out, String key, String value) {
    out.line(String.format("%-17s %s", key + ":", value));
  }
}
