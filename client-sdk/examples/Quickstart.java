// A complete Cryo client: lists domains, then boots a guest, waits for its first console line
// matching a pattern, and removes it again.
//
//   java -cp cli/target/cryo.jar client-sdk/examples/Quickstart.java \
//       127.0.0.1:7600 /path/to/vmlinuz /path/to/initramfs.img 'COUNTER \d+'
//
// (cli/target/cryo.jar holds the SDK and its dependencies; any classpath with
// cryo-client-sdk works.) With only the first argument it just lists domains.
import dev.cryo.client.Console;
import dev.cryo.client.CryoClient;
import dev.cryo.client.CryoException;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainConfig;
import dev.cryo.client.Domains;
import java.time.Duration;
import java.util.Set;
import java.util.regex.Pattern;

public class Quickstart {
  public static void main(String[] args) {
    String target = args.length > 0 ? args[0] : "127.0.0.1:7600";
    try (CryoClient cryo = CryoClient.builder().target(target).build()) {
      Domains domains = cryo.domains();
      for (Domain d : domains.list(Set.of())) {
        System.out.printf("%-20s %-10s %s%n", d.name(), d.state(), d.reason());
      }
      if (args.length < 4) {
        return;
      }
      String name = "quickstart-" + ProcessHandle.current().pid();
      domains.define(DomainConfig.builder(name)
          .memoryMib(128)
          .kernel(args[1], args[2], "console=ttyS0 quiet")
          .build());
      try {
        Domain running = domains.start(name);
        System.out.println("started " + name + ": pid " + running.pid() + ", "
            + running.accelerator());
        try (Console console = domains.console(name)) {
          String line = console.awaitLine(Pattern.compile(args[3]), Duration.ofMinutes(3))
              .group();
          System.out.println("console: " + line);
        }
        // A short deadline for this one call; reads are retried if the server restarts.
        System.out.println("state: " + domains.withDeadline(Duration.ofSeconds(10))
            .get(name).state());
        domains.destroy(name);
      } finally {
        domains.undefine(name);
      }
      System.out.println("removed " + name);
    } catch (CryoException e) {
      System.err.println("cryo: " + e.code() + ": " + e.getMessage());
      System.exit(1);
    }
  }
}
