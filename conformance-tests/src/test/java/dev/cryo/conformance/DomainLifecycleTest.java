package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Accelerator;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.StateReason;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole life of a real guest on real QEMU: define, start, heartbeat, suspend (heartbeat
 * stops), resume (it goes on, same boot), shutdown and destroy, undefine; and the events each
 * step produces.
 */
@Timeout(300)
class DomainLifecycleTest {
  static final Pattern COUNTER = Pattern.compile("COUNTER (\\d+) boot=(\\S+)");
  static final Duration BOOT = Duration.ofSeconds(120);

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  @Test
  void lifecycle_guestRunsPausesResumesAndStops() throws Exception {
    String name = "life-" + System.nanoTime();
    List<DomainEvent> events = new CopyOnWriteArrayList<>();
    AutoCloseable watch = domains.watch(name, events::add);
    try {
      Domain defined = domains.define(TestGuest.xml(name, 128, 16, null, null)).domain();
      assertThat(defined.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(defined.memoryBytes()).isEqualTo(128L << 20);

      Domain started = domains.start(name);
      assertThat(started.state()).isEqualTo(DomainState.RUNNING);
      assertThat(started.reason()).isEqualTo(StateReason.BOOTED);
      assertThat(started.pid()).isPositive();
      assertThat(started.accelerator()).isIn(Accelerator.KVM, Accelerator.TCG);
      assertThat(ProcessHandle.of(started.pid())).isPresent();

      try (Console console = domains.console(name)) {
        String boot = console.awaitLine(COUNTER, BOOT).group(2);
        // Suspend right after a fresh heartbeat, so the next one is about a second away.
        console.skipReceived();
        long before = Long.parseLong(console.awaitLine(COUNTER, Duration.ofSeconds(30)).group(1));
        assertThat(domains.suspend(name).state()).isEqualTo(DomainState.PAUSED);
        // Paused: for 4 s the counter may not advance. One line that was already on its way
        // when the CPUs stopped is tolerated; a running guest would print four more.
        List<Long> afterPause = beatsWithin(console, Duration.ofSeconds(4));
        assertThat(afterPause).as("heartbeats while paused").allMatch(n -> n <= before + 1);
        long last = afterPause.isEmpty() ? before : afterPause.get(afterPause.size() - 1);

        Domain resumed = domains.resume(name);
        assertThat(resumed.state()).isEqualTo(DomainState.RUNNING);
        assertThat(resumed.reason()).isEqualTo(StateReason.UNPAUSED);
        Matcher next = console.awaitLine(COUNTER, Duration.ofSeconds(30));
        assertThat(next.group(2)).as("same boot after resume").isEqualTo(boot);
        assertThat(Long.parseLong(next.group(1)))
            .as("counter continues from where it paused")
            .isEqualTo(last + 1);
      }

      assertThatThrownBy(() -> domains.start(name))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);

      Domain destroyed = domains.destroy(name);
      assertThat(destroyed.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(destroyed.reason()).isEqualTo(StateReason.DESTROYED);
      assertThat(ProcessHandle.of(started.pid()).map(ProcessHandle::isAlive)).isIn(
          java.util.Optional.empty(), java.util.Optional.of(false));

      domains.undefine(name);
      assertThatThrownBy(() -> domains.get(name))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
    } catch (Throwable t) {
      destroyQuietly(name);
      throw t;
    } finally {
      watch.close();
    }
    assertThat(events).extracting(DomainEvent::type).containsSubsequence(
        DomainEvent.Type.DEFINED, DomainEvent.Type.STARTED, DomainEvent.Type.SUSPENDED,
        DomainEvent.Type.RESUMED, DomainEvent.Type.STOPPED, DomainEvent.Type.UNDEFINED);
  }

  @Test
  void shutdown_guestPowersOffOnAcpi() throws Exception {
    String name = "acpi-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 128, 0, null, null));
    try {
      domains.start(name);
      try (Console console = domains.console(name)) {
        console.awaitLine(COUNTER, BOOT);
      }
      Domain off = domains.shutdown(name, Duration.ofSeconds(60));
      assertThat(off.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(off.reason()).isEqualTo(StateReason.SHUTDOWN);
      assertThat(domains.list(Set.of(DomainState.RUNNING))).extracting(Domain::name)
          .doesNotContain(name);
    } finally {
      cleanup(name);
    }
  }

  @Test
  void start_paused_thenResume() throws Exception {
    String name = "paused-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 128, 0, null, null));
    try {
      Domain d = domains.start(name, true, false);
      assertThat(d.state()).isEqualTo(DomainState.PAUSED);
      assertThat(domains.list(Set.of(DomainState.PAUSED))).extracting(Domain::name)
          .contains(name);
      try (Console console = domains.console(name)) {
        domains.resume(name);
        assertThat(console.awaitLine(COUNTER, BOOT).group(1)).isEqualTo("1");
      }
    } finally {
      cleanup(name);
    }
  }

  /**
   * Reads every heartbeat arriving within {@code window}. The caller has just paused the guest,
   * so this is a wait for lines that must not come.
   */
  private static List<Long> beatsWithin(Console console, Duration window) {
    List<Long> beats = new java.util.ArrayList<>();
    long deadline = System.nanoTime() + window.toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return beats;
      }
      try {
        beats.add(Long.parseLong(console.awaitLine(COUNTER, Duration.ofNanos(left)).group(1)));
      } catch (CryoException e) {
        if (e.code() != ErrorCode.DEADLINE_EXCEEDED) {
          throw e;
        }
        return beats;
      }
    }
  }

  /** Destroys (if running) and undefines a test domain. */
  static void cleanup(String name) {
    destroyQuietly(name);
    domains.undefine(name);
  }

  static void destroyQuietly(Domains domains, String name) {
    try {
      domains.destroy(name);
    } catch (CryoException e) {
      // Already off.
    }
  }

  static void destroyQuietly(String name) {
    try {
      domains.destroy(name);
    } catch (CryoException e) {
      // Already off.
    }
  }
}
