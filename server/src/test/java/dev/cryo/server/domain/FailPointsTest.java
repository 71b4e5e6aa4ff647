package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class FailPointsTest {

  @Test
  void unknownName_isRefusedWithTheKnownOnes() {
    assertThatThrownBy(() -> new FailPoints(Set.of("snapshot-typo"), System.out))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("snapshot-typo")
        .hasMessageContaining(FailPoints.SNAPSHOT_MEMORY_SAVED);
  }

  @Test
  void unarmedPoint_returnsAtOnce_armedOneSaysSoAndHangs() throws Exception {
    CountDownLatch lineWritten = new CountDownLatch(1);
    ByteArrayOutputStream out =
        new ByteArrayOutputStream() {
          @Override
          public synchronized void write(byte[] b, int off, int len) {
            super.write(b, off, len);
            if (toString(StandardCharsets.UTF_8).endsWith(System.lineSeparator())) {
              lineWritten.countDown();
            }
          }
        };
    FailPoints points =
        new FailPoints(
            Set.of(FailPoints.SNAPSHOT_DISKS_SWITCHED),
            new PrintStream(out, true, StandardCharsets.UTF_8));
    points.reach(FailPoints.SNAPSHOT_MEMORY_SAVED);
    assertThat(out.size()).isZero();

    CountDownLatch passed = new CountDownLatch(1);
    Thread t =
        new Thread(
            () -> {
              points.reach(FailPoints.SNAPSHOT_DISKS_SWITCHED);
              passed.countDown();
            });
    t.setDaemon(true);
    t.start();
    assertThat(lineWritten.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(out.toString(StandardCharsets.UTF_8))
        .isEqualTo("CRYO_FAIL_POINT snapshot-disks-switched" + System.lineSeparator());
    // Still parked, interrupts included: only killing the process ends it.
    t.interrupt();
    assertThat(passed.await(200, TimeUnit.MILLISECONDS)).isFalse();
    assertThat(t.getState()).isEqualTo(Thread.State.WAITING);
  }
}
