package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainEvent;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo events [DOMAIN]}: lifecycle events as they happen, like {@code virsh event}. */
@Command(name = "events",
    description = "Print lifecycle events as they happen, until Ctrl-C, --count or --timeout.")
final class EventsCommand extends ClientCommand {
  @Parameters(arity = "0..1", paramLabel = "DOMAIN", description = "Only this domain's events.")
  String domain;

  @Option(names = "--count", paramLabel = "N", description = "Exit after N events.")
  Integer count;

  @Option(names = "--timeout", paramLabel = "DURATION", converter = Durations.class,
      description = "Exit (with 0) after this long, e.g. 30s.")
  Duration timeout;

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    if (count != null && count <= 0) {
      throw new CliException(ExitCodes.USAGE, "--count must be positive, got " + count, null);
    }
    // Events and the stream's failure, in arrival order, handed from gRPC's thread to this one.
    BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    try (AutoCloseable watch = cryo.domains().watch(domain, queue::add, queue::add)) {
      // On stderr so scripts can wait for it: from here on no event is missed.
      System.err.println("cryo: watching events of " + (domain == null ? "all domains"
          : "domain '" + domain + "'") + " (Ctrl-C to stop)");
      long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
      int seen = 0;
      while (count == null || seen < count) {
        long left = deadline - System.nanoTime();
        Object next = timeout == null ? queue.take() : queue.poll(left, TimeUnit.NANOSECONDS);
        if (next == null) {
          break;
        }
        if (next instanceof CryoException e) {
          throw e;
        }
        DomainEvent e = (DomainEvent) next;
        if (out.json()) {
          out.jsonLine(Output.event(e));
        } else {
          out.line(e.time() + "  domain '" + e.name() + "' " + Output.lower(e.type().name())
              + ": " + Output.state(e.state()) + " (" + Output.lower(e.reason().name()) + ")");
          out.flush();
        }
        seen++;
      }
    }
    return ExitCodes.OK;
  }
}
