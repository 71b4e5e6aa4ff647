package dev.cryo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ProgressTest {
  private final AtomicLong now = new AtomicLong();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private Progress progress(long total, boolean terminal) {
    return new Progress("saving vm1", total, terminal,
        new PrintStream(err, true, StandardCharsets.UTF_8), now::get);
  }

  @Test
  void line_knownTotal_barPercentRateAndEta() {
    Progress p = progress(100L << 20, true);
    p.accepted();
    now.set(2_000_000_000L);
    p.advance(25L << 20);
    assertThat(p.line(now.get())).isEqualTo(
        "saving vm1  [######..................]  25%  25.0 MiB / 100.0 MiB  12.5 MiB/s  ETA 0:06");
  }

  @Test
  void line_unknownTotal_bytesAndRateOnly() {
    Progress p = progress(-1, false);
    p.accepted();
    now.set(1_000_000_000L);
    p.advance(1536);
    assertThat(p.line(now.get())).isEqualTo("saving vm1  1.5 KiB  1.5 KiB/s");
  }

  @Test
  void advance_notTerminal_plainLinesAtMostEveryFiveSeconds() {
    Progress p = progress(-1, false);
    p.accepted();
    for (int i = 1; i <= 12; i++) {
      now.set(i * 1_000_000_000L);
      p.advance(1 << 20);
    }
    p.close();
    String out = err.toString(StandardCharsets.UTF_8);
    assertThat(out).doesNotContain("\r");
    assertThat(out.lines()).hasSize(3).last().asString()
        .isEqualTo("saving vm1: 12.0 MiB in 0:12 (1.0 MiB/s)");
  }

  @Test
  void close_twice_printsOnce() {
    Progress p = progress(10, true);
    p.accepted();
    p.close();
    p.close();
    String out = err.toString(StandardCharsets.UTF_8);
    assertThat(out).startsWith("\rsaving vm1: 0 B in 0:00");
    assertThat(out.split("saving vm1:", -1)).hasSize(2);
  }

  @Test
  void refusedCall_neverAccepted_printsNothing() {
    Progress p = progress(100L << 20, true);
    for (int i = 1; i <= 12; i++) {
      now.set(i * 1_000_000_000L);
      p.advance(1 << 20); // e.g. a restore's first chunks, read before the server refused
    }
    p.close();
    assertThat(p.isAccepted()).isFalse();
    assertThat(err.toString(StandardCharsets.UTF_8)).as("no line, no summary").isEmpty();
  }

  @Test
  void advance_beforeAccepted_silentThenDrawsFromAcceptance() {
    Progress p = progress(-1, false);
    now.set(1_000_000_000L);
    p.advance(1 << 20);
    now.set(7_000_000_000L);
    p.advance(1 << 20);
    assertThat(err.toString(StandardCharsets.UTF_8)).as("nothing before the server answered")
        .isEmpty();
    p.accepted();
    now.set(9_000_000_000L);
    p.advance(1 << 20);
    assertThat(err.toString(StandardCharsets.UTF_8)).as("the first line waits its interval")
        .isEmpty();
    now.set(12_000_000_000L);
    p.advance(1 << 20);
    p.close();
    // The clock runs from the first byte: 4 MiB in 11 s.
    assertThat(err.toString(StandardCharsets.UTF_8).lines()).containsExactly(
        "saving vm1  4.0 MiB  372.4 KiB/s", "saving vm1: 4.0 MiB in 0:11 (372.4 KiB/s)");
  }

  @Test
  void accepted_beforeAnyByte_clockStartsThere() {
    Progress p = progress(-1, false);
    now.set(3_000_000_000L);
    p.accepted();
    p.accepted();
    now.set(5_000_000_000L);
    p.advance(2 << 20);
    p.close();
    assertThat(err.toString(StandardCharsets.UTF_8).lines())
        .containsExactly("saving vm1: 2.0 MiB in 0:02 (1.0 MiB/s)");
  }

  @Test
  void clock_pastAnHour_showsHours() {
    assertThat(Progress.clock(3_725_000_000_000L)).isEqualTo("1:02:05");
    assertThat(Progress.bytes(1023)).isEqualTo("1023 B");
  }
}
