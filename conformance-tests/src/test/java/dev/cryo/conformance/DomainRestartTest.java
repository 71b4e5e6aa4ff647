package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import dev.cryo.client.StateReason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Restart safety: the server dies with {@code kill -9} while a guest runs; the guest keeps
 * running, and a new server on the same state folder re-attaches and controls it.
 */
@Timeout(300)
@LocalServer("kills and restarts the server")
class DomainRestartTest {
  @TempDir static Path temp;
  static CryoTarget cryo;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  @Test
  void kill9_guestKeepsRunningAndNewServerReattaches() throws Exception {
    String name = "restart-" + System.nanoTime();
    cryo.client().domains().define(TestGuest.xml(name, 128, 8, null, null));
    Domain before = cryo.client().domains().start(name);
    String boot;
    long counter;
    try (Console console = cryo.client().domains().console(name)) {
      Matcher beat = console.awaitLine(DomainLifecycleTest.COUNTER, DomainLifecycleTest.BOOT);
      boot = beat.group(2);
      console.skipReceived();
      counter = Long.parseLong(console.awaitLine(DomainLifecycleTest.COUNTER,
          Duration.ofSeconds(30)).group(1));
    }

    cryo.killAndRestart();

    try {
      assertThat(ProcessHandle.of(before.pid()).map(ProcessHandle::isAlive)).contains(true);
      Domain after = cryo.client().domains().get(name);
      assertThat(after.state()).isEqualTo(DomainState.RUNNING);
      assertThat(after.reason()).isEqualTo(StateReason.REATTACHED);
      assertThat(after.pid()).isEqualTo(before.pid());
      assertThat(after.accelerator()).isEqualTo(before.accelerator());

      try (Console console = cryo.client().domains().console(name)) {
        // The console replays history first; wait for a heartbeat newer than the restart.
        Matcher beat;
        do {
          beat = console.awaitLine(DomainLifecycleTest.COUNTER, Duration.ofSeconds(30));
          assertThat(beat.group(2)).as("same boot: the guest was not restarted").isEqualTo(boot);
        } while (Long.parseLong(beat.group(1)) <= counter + 1);
        // History survives the restart too: the new server shows what the guest printed before.
        assertThat(console.transcript()).contains("COUNTER " + counter + " boot=" + boot);
      }

      assertThat(cryo.client().domains().suspend(name).state()).isEqualTo(DomainState.PAUSED);
      assertThat(cryo.client().domains().resume(name).state()).isEqualTo(DomainState.RUNNING);
      Domain destroyed = cryo.client().domains().destroy(name);
      assertThat(destroyed.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(ProcessHandle.of(before.pid()).map(ProcessHandle::isAlive)).isNotEqualTo(
          java.util.Optional.of(true));
    } finally {
      DomainLifecycleTest.destroyQuietly(cryo.client().domains(), name);
      cryo.client().domains().undefine(name);
    }
  }

  @Test
  void sigterm_logsItsStopWhatItWaitedForAndTheGuestsItLeftRunning() throws Exception {
    Path state = temp.resolve("sigterm-state");
    String name = "sigterm-" + System.nanoTime();
    ServerProcess server = ServerProcess.start(state);
    try {
      long pid;
      try (CryoClient client = CryoClient.builder().target(server.target()).build()) {
        client.domains().define(TestGuest.xml(name, 64, 0, null, null));
        pid = client.domains().start(name, true, false).pid();
        CountDownLatch watching = new CountDownLatch(1);
        // A call in flight when SIGTERM arrives: an event watch never ends on its own. The
        // resume's event proves the watch reached the server before it is asked to stop.
        try (AutoCloseable watch = client.domains().watch(name, e -> watching.countDown())) {
          client.domains().resume(name);
          assertThat(watching.await(30, TimeUnit.SECONDS)).as("an event on the watch").isTrue();
          server.close();
        }
      }
      assertSigtermLog(Files.readString(server.log()), name, pid);
    } finally {
      server.close();
      // The guest outlives its server by design: a second server stops and removes it.
      ServerProcess again = ServerProcess.start(state);
      try (CryoClient client = CryoClient.builder().target(again.target()).build()) {
        DomainLifecycleTest.destroyQuietly(client.domains(), name);
        client.domains().undefine(name);
      } finally {
        again.close();
      }
      assertThat(Files.readString(again.log()))
          .contains("stopping: no new calls; no calls in flight")
          .contains("no guests running");
    }
  }

  private static void assertSigtermLog(String log, String name, long pid) {
    assertThat(log).contains("stopping: no new calls; waiting up to 5 s for calls in flight "
        + "{DomainService/WatchDomainEvents=1}");
    assertThat(log).contains(
        "cancelling calls still in flight after 5 s: {DomainService/WatchDomainEvents=1}");
    assertThat(log).containsPattern("stopped after \\d+ ms; guests left running for the next "
        + "server to re-attach: \\[" + name + "\\]");
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).contains(true);
  }

  @Test
  void restart_guestThatDiedWhileServerWasDown_isShutOff() throws Exception {
    String name = "died-" + System.nanoTime();
    cryo.client().domains().define(TestGuest.xml(name, 64, 0, null, null));
    Domain started = cryo.client().domains().start(name, true, false);
    cryo.killAndRestartAfter(() -> ProcessHandle.of(started.pid()).ifPresent(p -> {
      p.destroyForcibly();
      p.onExit().join();
    }));
    try {
      Domain after = cryo.client().domains().get(name);
      assertThat(after.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(after.reason()).isEqualTo(StateReason.CRASHED);
    } finally {
      cryo.client().domains().undefine(name);
    }
  }
}
