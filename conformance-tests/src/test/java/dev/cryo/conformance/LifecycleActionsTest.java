package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.StateReason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * libvirt's {@code <on_poweroff>} and {@code <on_reboot>} honoured, as a user sees them: a guest
 * that powers itself off under {@code restart} boots again in the same QEMU, and a power-off the
 * caller asks for still ends it; a guest that reboots under {@code destroy} is shut off, and
 * under the default {@code restart} boots again.
 */
@Timeout(900)
class LifecycleActionsTest {
  @TempDir static Path temp;
  static CryoTarget server;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    server = CryoTarget.start(Files.createDirectories(temp.resolve("server")));
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
  }

  @Test
  void onPoweroffRestart_guestPowerOffBootsAgainInPlace_callerShutdownStillEndsIt()
      throws Exception {
    String name = "lc-poweroff";
    Domains domains = server.client().domains();
    try {
      domains.define(withActions(name, "restart", "restart"));
      domains.start(name);
      GuestProbe.Beat first = GuestProbe.awaitBooted(domains, name);
      long pid = domains.get(name).pid();

      String second = commandAndAwaitNextBoot(domains, name, "poweroff", first.boot());
      assertThat(second).as("a new boot").isNotEqualTo(first.boot());
      Domain after = domains.get(name);
      assertThat(after.state()).isEqualTo(DomainState.RUNNING);
      assertThat(after.pid()).as("the same QEMU, reset in place").isEqualTo(pid);

      Domain off = domains.shutdown(name, Duration.ofSeconds(120));
      assertThat(off.state()).as("the caller's power-off is not restarted")
          .isEqualTo(DomainState.SHUTOFF);
      assertThat(off.reason()).isEqualTo(StateReason.SHUTDOWN);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void onReboot_destroyShutsTheGuestOff_restartBootsItAgain() throws Exception {
    String name = "lc-reboot";
    Domains domains = server.client().domains();
    try {
      domains.define(withActions(name, "restart", "destroy"));
      domains.start(name);
      GuestProbe.Beat first = GuestProbe.awaitBooted(domains, name);
      long pid = domains.get(name).pid();
      String second = commandAndAwaitNextBoot(domains, name, "reboot", first.boot());
      assertThat(second).isNotEqualTo(first.boot());
      assertThat(domains.get(name).pid()).as("QEMU reset the guest itself").isEqualTo(pid);
      assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
      domains.destroy(name);

      domains.define(domains.xml(name).replace("<on_reboot>restart</on_reboot>",
          "<on_reboot>destroy</on_reboot>"));
      domains.start(name);
      GuestProbe.awaitBooted(domains, name);
      CompletableFuture<DomainEvent> stopped = new CompletableFuture<>();
      try (AutoCloseable watch = domains.watch(name, e -> {
        if (e.type() == DomainEvent.Type.STOPPED) {
          stopped.complete(e);
        }
      }); Console c = domains.console(name)) {
        c.sendLine("reboot");
        DomainEvent e = stopped.get(120, TimeUnit.SECONDS);
        assertThat(e.state()).isEqualTo(DomainState.SHUTOFF);
        assertThat(e.reason()).as("a reboot under on_reboot destroy").isEqualTo(
            StateReason.SHUTDOWN);
      }
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  private static String withActions(String name, String onReboot, String onPoweroff)
      throws Exception {
    return TestGuest.xml(name, 128, 0, null, null).replace("</os>", "</os>\n  <on_poweroff>"
        + onPoweroff + "</on_poweroff>\n  <on_reboot>" + onReboot + "</on_reboot>");
  }

  /** Sends a command that ends the guest's boot; returns the boot id of the next boot. */
  private static String commandAndAwaitNextBoot(Domains domains, String name, String command,
      String boot) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine(command);
      while (true) {
        Matcher beat = c.awaitLine(GuestProbe.COUNTER, GuestProbe.BOOT);
        if (!beat.group(2).equals(boot)) {
          return beat.group(2);
        }
      }
    }
  }
}
