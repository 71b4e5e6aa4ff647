package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.client.Console;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The snapshot, checkpoint and backup commands through the real launcher, on one guest with a
 * qcow2 disk booted once: a snapshot round trip (create, list, tree, info, dumpxml, revert
 * brings back the disk marker and the heartbeat, delete), and checkpoints with a full and an
 * incremental {@code cryo backup} into a local raw file that then equals the disk. Every
 * {@code --json} answer parses.
 */
@Timeout(900)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CliSnapshotTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static String name;
  static Path disk;
  static Console console;
  static String boot;

  @BeforeAll
  static void bootGuest() throws Exception {
    CliProcess.launcher();
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    name = "cli-snap-" + System.nanoTime();
    disk = TestGuest.createQcow2(temp.resolve("vda.qcow2"), "64M");
    domains.define(BackupGuest.xml(name, disk, "qcow2", null, null));
    domains.start(name);
    console = domains.console(name);
    boot = console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT).group(2);
  }

  @AfterAll
  static void stopGuest() throws Exception {
    if (console != null) {
      console.close();
    }
    LifecycleCleanup.destroyAndUndefine(domains, name);
    cryo.close();
  }

  static CliProcess.Result cryo(String... args) throws Exception {
    CliProcess.Result r = CliProcess.run(cryo.target(), null, args);
    assertThat(r.exitCode()).as("cryo %s: %s", String.join(" ", args), r.stderr()).isZero();
    return r;
  }

  static JsonElement json(String... args) throws Exception {
    List<String> argv = new ArrayList<>(List.of(args));
    argv.add("--json");
    return JsonParser.parseString(cryo(argv.toArray(String[]::new)).stdout());
  }

  static List<String> names(JsonElement array) {
    List<String> out = new ArrayList<>();
    for (JsonElement e : array.getAsJsonArray()) {
      out.add(e.getAsJsonObject().get("name").getAsString());
    }
    return out;
  }

  @Test
  @Order(1)
  void snapshotCreateListRevertDelete_roundTrip() throws Exception {
    SnapshotInternalTest.write(console, "MARKER-A");
    console.skipReceived();
    long atSnapshot = Long.parseLong(console.awaitLine(BackupGuest.COUNTER,
        BackupGuest.BOOT).group(1));
    JsonObject s1 = json("snapshot-create", name, "--name", "s1", "--description", "before B")
        .getAsJsonObject();
    assertThat(s1.get("name").getAsString()).isEqualTo("s1");
    assertThat(s1.get("state").getAsString()).isEqualTo("RUNNING");
    assertThat(s1.get("memory").getAsString()).isEqualTo("INTERNAL");
    assertThat(s1.get("current").getAsBoolean()).isTrue();

    SnapshotInternalTest.write(console, "MARKER-B");
    CliProcess.Result s2 = cryo("snapshot-create", name, "--name", "s2");
    assertThat(s2.stdout()).contains("Domain snapshot s2 created");

    JsonArray all = json("snapshot-list", name).getAsJsonArray();
    assertThat(names(all)).containsExactly("s1", "s2");
    assertThat(all.get(1).getAsJsonObject().get("parent").getAsString()).isEqualTo("s1");
    assertThat(all.get(1).getAsJsonObject().get("current").getAsBoolean()).isTrue();
    assertThat(names(json("snapshot-list", name, "--roots"))).containsExactly("s1");
    assertThat(names(json("snapshot-list", name, "--leaves"))).containsExactly("s2");
    assertThat(cryo("snapshot-list", name, "--tree").stdout()).contains("s1\n  |\n  +- s2\n");
    assertThat(cryo("snapshot-list", name).stdout()).containsPattern("s2 \\*\\s+\\d{4}-")
        .contains("running");
    assertThat(json("snapshot-info", name, "--current").getAsJsonObject().get("name")
        .getAsString()).isEqualTo("s2");
    assertThat(cryo("snapshot-info", name, "s1").stdout()).containsPattern("Children:\\s+1")
        .containsPattern("Description:\\s+before B");
    assertThat(cryo("snapshot-dumpxml", name, "s1").stdout()).startsWith("<domainsnapshot")
        .contains("<name>s1</name>");

    console.skipReceived();
    long beforeRevert = Long.parseLong(console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT)
        .group(1));
    assertThat(beforeRevert).as("the guest ran on past the snapshot's counter")
        .isGreaterThan(atSnapshot + 3);
    CliProcess.Result reverted = cryo("snapshot-revert", name, "s1", "--running");
    assertThat(reverted.stdout()).contains("Domain '" + name + "' reverted to snapshot s1");
    assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
    // Read on through the lines buffered before the revert to the first whose counter went back:
    // the reverted guest's first heartbeat, however long the CLI took to exit (skipping what was
    // received instead made the check depend on the host's load).
    Matcher next;
    do {
      next = console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);
    } while (Long.parseLong(next.group(1)) >= beforeRevert);
    assertThat(next.group(2)).as("same boot after revert").isEqualTo(boot);
    assertThat(Long.parseLong(next.group(1))).as("counter resumes from the snapshot")
        .isBetween(atSnapshot + 1, atSnapshot + 3);
    assertThat(SnapshotInternalTest.read(console)).isEqualTo("MARKER-A");
    assertThat(json("snapshot-info", name, "--current").getAsJsonObject().get("name")
        .getAsString()).isEqualTo("s1");

    CliProcess.Result unknown = CliProcess.run(cryo.target(), null, "snapshot-info", name,
        "nope");
    assertThat(unknown.exitCode()).isEqualTo(3);
    assertThat(unknown.stderrLines()).hasSize(1).first().asString().contains("nope");

    JsonObject deleted = json("snapshot-delete", name, "s1", "--children").getAsJsonObject();
    assertThat(names(wrapNames(deleted.getAsJsonArray("deleted"))))
        .containsExactlyInAnyOrder("s1", "s2");
    assertThat(json("snapshot-list", name).getAsJsonArray()).isEmpty();
  }

  @Test
  @Order(2)
  void checkpointsAndBackup_fullThenIncremental_equalsDisk() throws Exception {
    SnapshotInternalTest.write(console, "MARKER-C");
    Path local = temp.resolve("vda.raw");
    CliProcess.Result full = cryo("backup", name, "--checkpoint", "c1", "--to",
        local.toString());
    // The summary counts the data sent, as the server does; the disk's zero ranges are not
    // sent, and the progress line (stderr) counts the same bytes, not the disk's 64 MiB.
    Matcher sent = java.util.regex.Pattern.compile("Backup of domain '" + name + "' completed "
        + "\\(full, 64\\.0 MiB of disk, (\\S+ \\S+) of data sent\\); checkpoint c1 created")
        .matcher(full.stdout());
    assertThat(sent.find()).as(full.stdout()).isTrue();
    assertThat(sent.group(1)).as("data sent: the guest's writes, not the whole disk")
        .isNotIn("0 B", "64.0 MiB");
    assertThat(full.stderr()).contains("backing up " + name + ": " + sent.group(1) + " in ");
    assertThat(Files.size(local)).isEqualTo(64L << 20);
    assertThat(BackupGuest.sameContent(local, disk)).as("full backup equals the disk").isTrue();

    BackupGuest.write(console, "vda", 5L << 20, "I".repeat(512));
    assertThat(BackupGuest.sameContent(local, disk)).isFalse();
    JsonObject inc = json("backup", name, "--incremental", "c1", "--checkpoint", "c2",
        "--to", local.toString()).getAsJsonObject();
    assertThat(inc.get("state").getAsString()).isEqualTo("COMPLETED");
    assertThat(inc.get("since").getAsString()).isEqualTo("c1");
    assertThat(inc.get("checkpoint").getAsString()).isEqualTo("c2");
    assertThat(inc.get("bytesDone").getAsLong()).as("one 64 KiB cluster changed since c1")
        .isEqualTo(BackupGuest.CLUSTER);
    assertThat(BackupGuest.sameContent(local, disk)).as("full + incremental equals the disk")
        .isTrue();
    try (var left = Files.list(temp)) {
      assertThat(left.map(p -> p.getFileName().toString()).toList())
          .noneMatch(f -> f.endsWith(".part"));
    }

    JsonObject c3 = json("checkpoint-create", name, "--name", "c3").getAsJsonObject();
    assertThat(c3.get("parent").getAsString()).isEqualTo("c2");
    assertThat(names(json("checkpoint-list", name))).containsExactly("c1", "c2", "c3");
    assertThat(names(json("checkpoint-list", name, "--leaves"))).containsExactly("c3");
    assertThat(cryo("checkpoint-list", name, "--tree").stdout())
        .contains("c1\n  |\n  +- c2\n      |\n      +- c3\n");
    assertThat(cryo("checkpoint-dumpxml", name, "c2").stdout())
        .startsWith("<domaincheckpoint").contains("<name>c2</name>");
    JsonObject deleted = json("checkpoint-delete", name, "c1").getAsJsonObject();
    assertThat(names(wrapNames(deleted.getAsJsonArray("deleted")))).containsExactly("c1");
    JsonArray left = json("checkpoint-list", name).getAsJsonArray();
    assertThat(names(left)).containsExactly("c2", "c3");

    CliProcess.Result again = CliProcess.run(cryo.target(), null, "backup", name, "--to",
        local.toString());
    assertThat(again.exitCode()).as("a full backup does not overwrite a file").isEqualTo(5);
    assertThat(BackupGuest.sameContent(local, disk)).isTrue();
  }

  @Test
  @Order(3)
  void externalMemorySnapshot_andDomainJobCommands() throws Exception {
    assertThat(cryo("domjobinfo", name).stdout()).containsPattern("Job type:\\s+None");
    assertThat(json("domjobinfo", name).getAsJsonObject().size()).as("no job").isZero();
    CliProcess.Result abort = CliProcess.run(cryo.target(), null, "domjobabort", name);
    assertThat(abort.exitCode()).as("nothing to abort").isEqualTo(5);
    assertThat(abort.stderr()).contains("no job to abort");

    Path memory = temp.resolve("m1.mem");
    JsonObject m1 = json("snapshot-create", name, "--name", "m1", "--memory-file",
        memory.toString()).getAsJsonObject();
    assertThat(m1.get("memory").getAsString()).isEqualTo("EXTERNAL");
    assertThat(m1.get("state").getAsString()).isEqualTo("RUNNING");
    assertThat(memory).exists();
    assertThat(domains.get(name).state()).isEqualTo(DomainState.RUNNING);
  }

  private static JsonArray wrapNames(JsonArray strings) {
    JsonArray out = new JsonArray();
    for (JsonElement s : strings) {
      JsonObject o = new JsonObject();
      o.add("name", s);
      out.add(o);
    }
    return out;
  }
}
