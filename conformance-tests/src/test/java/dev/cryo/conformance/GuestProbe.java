package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.Domains;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a user sees of the test guest: its heartbeat (counter and boot id) and the checksum of its
 * filled memory. Used to prove that a guest carried on after a save and restore.
 */
final class GuestProbe {
  static final Pattern COUNTER = Pattern.compile("COUNTER (\\d+) boot=(\\S+)");
  static final Pattern FILLED = Pattern.compile("CRYO FILLED mib=(\\d+) boot=(\\S+)");
  static final Pattern CHECKSUM = Pattern.compile("CHECKSUM ([0-9a-f]{32}) boot=(\\S+)");
  static final Duration BOOT = Duration.ofSeconds(240);
  static final Duration LINE = Duration.ofSeconds(60);

  /** Heartbeat and memory as last seen. */
  record Beat(long counter, String boot, String checksum) {}

  private GuestProbe() {}

  /** {@link TestGuest#xml} without a disk. */
  static String xml(String name, int memoryMib, int fillMib)
      throws java.io.IOException, InterruptedException {
    return TestGuest.xml(name, memoryMib, fillMib, null, null);
  }

  /** Waits for the guest to have filled its memory and beat once; returns its state. */
  static Beat awaitBooted(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      c.awaitLine(FILLED, BOOT);
      Matcher beat = c.awaitLine(COUNTER, LINE);
      String boot = beat.group(2);
      c.sendLine("checksum");
      Matcher sum = c.awaitLine(CHECKSUM, LINE);
      assertThat(sum.group(2)).isEqualTo(boot);
      c.skipReceived();
      Matcher last = c.awaitLine(COUNTER, LINE);
      return new Beat(Long.parseLong(last.group(1)), boot, sum.group(1));
    }
  }

  /** The latest heartbeat of a running guest (waits for a fresh one). */
  static Beat latest(Domains domains, String name, String checksum) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      Matcher m = c.awaitLine(COUNTER, LINE);
      return new Beat(Long.parseLong(m.group(1)), m.group(2), checksum);
    }
  }

  /**
   * Asserts that the guest carries on from {@code before}: the next heartbeat continues the
   * counter (from the probe or the few beats after it, up to the save), with the same boot id, and
   * the memory checksum is unchanged. Returns the new state.
   */
  static Beat assertCarriesOn(Domains domains, String name, Beat before) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      Matcher next = c.awaitLine(COUNTER, LINE);
      long n = Long.parseLong(next.group(1));
      if (n == before.counter()) {
        // The console's history replay can deliver the last line before the save once more.
        next = c.awaitLine(COUNTER, LINE);
        n = Long.parseLong(next.group(1));
      }
      assertThat(next.group(2)).as("same boot after restore").isEqualTo(before.boot());
      // The guest runs on between the probe and the instant the save stops it (seconds under a
      // loaded TCG host): the counter goes on from there, a few beats past the probe, never back.
      assertThat(n).as("heartbeat continues from %d", before.counter())
          .isBetween(before.counter() + 1, before.counter() + 8);
      c.sendLine("checksum");
      Matcher sum = c.awaitLine(CHECKSUM, LINE);
      assertThat(sum.group(1)).as("guest memory checksum").isEqualTo(before.checksum());
      assertThat(sum.group(2)).isEqualTo(before.boot());
      c.skipReceived();
      Matcher last = c.awaitLine(COUNTER, LINE);
      return new Beat(Long.parseLong(last.group(1)), before.boot(), before.checksum());
    }
  }
}
