package dev.cryo.server.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InternalException;
import dev.cryo.server.qemu.QemuImg;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ExtentPlanTest {
  // What qemu-img map printed for a real incremental target (see Backups' class comment).
  static final List<QemuImg.MapEntry> MAP = List.of(
      new QemuImg.MapEntry(0, 65536, true, false, true, 458752),
      new QemuImg.MapEntry(65536, 983040, false, true, false, -1),
      new QemuImg.MapEntry(1048576, 131072, true, false, true, 327680),
      new QemuImg.MapEntry(1179648, 917504, false, true, false, -1),
      new QemuImg.MapEntry(2097152, 65536, true, true, false, -1),
      new QemuImg.MapEntry(2162688, 64946176, false, true, false, -1));

  @Test
  void plan_incremental_sendsOnlyAllocatedClusters() {
    List<ExtentPlan.Piece> plan = ExtentPlan.plan(MAP, false, 1 << 20);

    assertThat(plan).containsExactly(
        new ExtentPlan.Piece(0, 65536, false, 458752),
        new ExtentPlan.Piece(1048576, 131072, false, 327680),
        new ExtentPlan.Piece(2097152, 65536, true, -1));
    assertThat(ExtentPlan.dataBytes(plan)).isEqualTo(196608);
  }

  @Test
  void plan_full_unallocatedBecomesZeroExtents() {
    List<ExtentPlan.Piece> plan = ExtentPlan.plan(MAP, true, 1 << 20);

    assertThat(plan).hasSize(6);
    assertThat(plan.get(1)).isEqualTo(new ExtentPlan.Piece(65536, 983040, true, -1));
    assertThat(plan.stream().mapToLong(ExtentPlan.Piece::length).sum())
        .as("a full plan covers the whole disk").isEqualTo(64L << 20);
  }

  @Test
  void plan_largeData_splitIntoChunksWithMatchingHostOffsets() {
    List<ExtentPlan.Piece> plan = ExtentPlan.plan(List.of(
        new QemuImg.MapEntry(4096, 2_500_000, true, false, true, 1000)), false, 1 << 20);

    assertThat(plan).containsExactly(
        new ExtentPlan.Piece(4096, 1 << 20, false, 1000),
        new ExtentPlan.Piece(4096 + (1 << 20), 1 << 20, false, 1000 + (1 << 20)),
        new ExtentPlan.Piece(4096 + (2 << 20), 2_500_000 - (2 << 20), false, 1000 + (2 << 20)));
  }

  @Test
  void plan_dataWithoutHostOffset_internalError() {
    assertThatThrownBy(() -> ExtentPlan.plan(List.of(
        new QemuImg.MapEntry(0, 65536, true, false, true, -1)), false, 1 << 20))
        .isInstanceOf(InternalException.class).hasMessageContaining("uncompressed");
  }
}
