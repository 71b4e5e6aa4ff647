package dev.cryo.server.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotPlan.Decision;
import dev.cryo.server.snapshot.SnapshotPlan.Method;
import dev.cryo.server.snapshot.SnapshotPlan.Request;
import dev.cryo.server.snapshot.SnapshotPlan.Verdict;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * One test per row of the seed-001 table, written as the table is: a cell like {@code omit/no}
 * or {@code any} expands to every value it stands for, and each must give the row's result.
 */
@Timeout(30)
class SnapshotPlanTest {

  @ParameterizedTest(name = "{0} {1} {2} {3} -> {4}")
  @CsvSource(delimiter = '|', textBlock = """
      offline | omit    | omit   | any | memory=no disk=int qemu-img
      offline | no      | omit   | any | memory=no disk=int qemu-img
      offline | omit/no | no     | any | invalid nothing to snapshot
      offline | omit/no | int    | any | memory=no disk=int qemu-img
      offline | omit/no | ext    | any | memory=no disk=ext qemu-img
      offline | int/ext | any    | any | invalid no memory to save
      online  | omit    | omit   | off | memory=int disk=int savevm
      online  | omit    | omit   | on  | memory=no disk=ext transaction
      online  | omit    | no/ext | off | unsupported
      online  | omit    | no     | on  | invalid nothing to snapshot
      online  | omit    | ext    | on  | memory=no disk=ext transaction
      online  | omit    | int    | off | memory=int disk=int savevm
      online  | omit    | int    | on  | unsupported
      online  | no      | omit   | any | memory=no disk=ext transaction
      online  | no      | no     | any | invalid nothing to snapshot
      online  | no      | int    | any | unsupported
      online  | no      | ext    | any | memory=no disk=ext transaction
      online  | int/ext | any    | on  | invalid disk-only
      online  | int     | omit   | off | memory=int disk=int savevm
      online  | int     | no/ext | off | unsupported
      online  | int     | int    | off | memory=int disk=int savevm
      online  | ext     | omit   | off | memory=ext disk=ext migrate+transaction
      online  | ext     | no     | off | memory=ext disk=no migrate
      online  | ext     | int    | off | unsupported
      online  | ext     | ext    | off | memory=ext disk=ext migrate+transaction
      """)
  void decide_seedRow(String domain, String memory, String disk, String diskOnly,
      String result) {
    boolean online = domain.equals("online");
    int cases = 0;
    for (Request m : expand(memory)) {
      for (Request d : expand(disk)) {
        for (boolean only : diskOnly.equals("any") ? List.of(false, true)
            : List.of(diskOnly.equals("on"))) {
          Decision got = SnapshotPlan.decide(online, m, d, only);
          String label = domain + " " + m + " " + d + " diskOnly=" + only;
          cases++;
          if (result.startsWith("invalid")) {
            assertThat(got.verdict()).as(label).isEqualTo(Verdict.INVALID);
            assertThat(got.message()).as(label).contains("invalid combination")
                .contains("memory=" + m.name().toLowerCase())
                .contains(result.substring("invalid ".length()));
          } else if (result.equals("unsupported")) {
            assertThat(got.verdict()).as(label).isEqualTo(Verdict.UNSUPPORTED);
            assertThat(got.message()).as(label).contains("unsupported combination")
                .contains("disks=" + d.name().toLowerCase());
          } else {
            String[] parts = result.split(" ");
            assertThat(got.verdict()).as(label).isEqualTo(Verdict.VALID);
            assertThat(got.memory()).as(label).isEqualTo(location(parts[0]));
            assertThat(got.disk()).as(label).isEqualTo(location(parts[1]));
            assertThat(got.method()).as(label).isEqualTo(method(parts[2]));
          }
        }
      }
    }
    assertThat(cases).isPositive();
  }

  private static List<Request> expand(String cell) {
    if (cell.equals("any")) {
      return List.of(Request.values());
    }
    List<Request> out = new ArrayList<>();
    for (String s : cell.split("/")) {
      out.add(switch (s) {
        case "omit" -> Request.OMIT;
        case "no" -> Request.NO;
        case "int" -> Request.INTERNAL;
        case "ext" -> Request.EXTERNAL;
        default -> throw new IllegalArgumentException(s);
      });
    }
    return out;
  }

  private static Location location(String kv) {
    return switch (kv.substring(kv.indexOf('=') + 1)) {
      case "no" -> Location.NO;
      case "int" -> Location.INTERNAL;
      case "ext" -> Location.EXTERNAL;
      default -> throw new IllegalArgumentException(kv);
    };
  }

  private static Method method(String s) {
    return switch (s) {
      case "qemu-img" -> Method.QEMU_IMG;
      case "savevm" -> Method.SAVEVM;
      case "transaction" -> Method.TRANSACTION;
      case "migrate" -> Method.MIGRATE;
      case "migrate+transaction" -> Method.MIGRATE_TRANSACTION;
      default -> throw new IllegalArgumentException(s);
    };
  }
}
