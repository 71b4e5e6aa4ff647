package dev.cryo.server.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(30)
class AuditLogTest {
  @TempDir Path dir;

  private static AuditLog.Entry entry(String principal, String domain, String outcome,
      String reason) {
    return new AuditLog.Entry(Instant.parse("2026-12-02T07:30:01.123456Z"), principal,
        "cryo.v1.DomainService/StartDomain", domain, outcome, reason, "127.0.0.1:50412", 812);
  }

  @Test
  void toJson_holdsEveryFieldOnOneLine() {
    String line = AuditLog.toJson(entry("ops", "web1", "OK", null));
    assertThat(line).isEqualTo("{\"time\":\"2026-12-02T07:30:01.123Z\",\"principal\":\"ops\","
        + "\"rpc\":\"cryo.v1.DomainService/StartDomain\",\"domain\":\"web1\","
        + "\"outcome\":\"OK\",\"peer\":\"127.0.0.1:50412\",\"millis\":812}");
  }

  @Test
  void toJson_unknownPrincipalAndDomainAreNull_reasonIsOneEscapedLine() {
    String line = AuditLog.toJson(entry(null, null, "UNAUTHENTICATED",
        "no valid credentials\n{\"forged\":true}<b>"));
    assertThat(line).doesNotContain("\n");
    JsonObject o = JsonParser.parseString(line).getAsJsonObject();
    assertThat(o.get("principal").isJsonNull()).isTrue();
    assertThat(o.get("domain").isJsonNull()).isTrue();
    assertThat(o.get("outcome").getAsString()).isEqualTo("UNAUTHENTICATED");
    assertThat(o.get("reason").getAsString()).isEqualTo("no valid credentials\n{\"forged\":true}"
        + "<b>");
    assertThat(o.has("forged")).isFalse();
  }

  @Test
  void toJson_longReason_isCut() {
    String line = AuditLog.toJson(entry("ops", "web1", "INTERNAL", "x".repeat(5000)));
    assertThat(JsonParser.parseString(line).getAsJsonObject().get("reason").getAsString())
        .hasSize(303).endsWith("...");
  }

  @Test
  void records_areAppendedToAnOwnerOnlyFile() throws Exception {
    Path file = dir.resolve("audit.log");
    Files.writeString(file, "{\"earlier\":1}\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    try (AuditLog audit = AuditLog.open(file)) {
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
          .isEqualTo("rw-------");
      audit.record(entry("ops", "web1", "OK", null));
      audit.record(entry("tenant-a", "b1", "NOT_FOUND", "domain 'b1' not found"));
    }
    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(3);
    assertThat(lines.get(0)).isEqualTo("{\"earlier\":1}");
    assertThat(JsonParser.parseString(lines.get(2)).getAsJsonObject().get("principal")
        .getAsString()).isEqualTo("tenant-a");
  }

  @Test
  void newFile_isOwnerOnly() throws Exception {
    Path file = dir.resolve("new-audit.log");
    try (AuditLog audit = AuditLog.open(file)) {
      audit.record(entry("ops", "web1", "OK", null));
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-------");
    assertThat(Files.readAllLines(file)).hasSize(1);
  }

  @Test
  void reopen_afterRotation_writesToANewFile() throws Exception {
    Path file = dir.resolve("audit.log");
    Path rotated = dir.resolve("audit.log.1");
    try (AuditLog audit = AuditLog.open(file)) {
      audit.record(entry("ops", "before", "OK", null));
      Files.move(file, rotated); // As logrotate does; the open file moves with its name.
      audit.reopen();
      audit.record(entry("ops", "after", "OK", null));
    }
    assertThat(Files.readString(rotated)).contains("\"before\"").doesNotContain("\"after\"");
    assertThat(Files.readString(file)).contains("\"after\"").doesNotContain("\"before\"");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-------");
  }
}
