package dev.cryo.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainJob;
import dev.cryo.client.DomainState;
import dev.cryo.client.BackupJob;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.ImageInfo;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveSummary;
import dev.cryo.client.Snapshot;
import java.time.Duration;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a command's results go: human text (virsh's wording) or, with {@code --json}, JSON whose
 * field names are the proto3 JSON names of the API (lowerCamelCase), so scripts can rely on them.
 */
final class Output {
  private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
      .create();
  private static final Gson COMPACT = new GsonBuilder().disableHtmlEscaping().create();

  private final boolean json;
  private final PrintStream out;

  Output(boolean json, PrintStream out) {
    this.json = json;
    this.out = out;
  }

  boolean json() {
    return json;
  }

  /** One line of human text; nothing in JSON mode. */
  void line(String text) {
    if (!json) {
      out.println(text);
    }
  }

  /** Raw text as it is (dumpxml). */
  void text(String text) {
    out.print(text);
    if (!text.endsWith("\n")) {
      out.println();
    }
  }

  /** A JSON result, pretty-printed. */
  void json(JsonElement value) {
    out.println(PRETTY.toJson(value));
  }

  /** One JSON object on one line, flushed: for streams such as events. */
  void jsonLine(JsonElement value) {
    out.println(COMPACT.toJson(value));
    out.flush();
  }

  void flush() {
    out.flush();
  }

  /** Prints rows under a header and a rule, columns padded, as virsh's tables look. */
  void table(List<String> header, List<List<String>> rows) {
    int[] width = new int[header.size()];
    List<List<String>> all = new ArrayList<>();
    all.add(header);
    all.addAll(rows);
    for (List<String> row : all) {
      for (int i = 0; i < row.size(); i++) {
        width[i] = Math.max(width[i], row.get(i).length());
      }
    }
    List<String> lines = new ArrayList<>();
    for (List<String> row : all) {
      StringBuilder b = new StringBuilder(" ");
      for (int c = 0; c < row.size(); c++) {
        b.append(c == row.size() - 1 ? row.get(c) : pad(row.get(c), width[c] + 3));
      }
      lines.add(b.toString().stripTrailing());
    }
    int rule = lines.stream().mapToInt(String::length).max().orElse(0) + 1;
    out.println(lines.get(0));
    out.println("-".repeat(rule));
    lines.subList(1, lines.size()).forEach(out::println);
  }

  private static String pad(String s, int width) {
    return s + " ".repeat(Math.max(1, width - s.length()));
  }

  // ---- JSON shapes of SDK values; the CLI's contract, so spelled out field by field.

  static JsonObject domain(Domain d) {
    JsonObject o = new JsonObject();
    o.addProperty("name", d.name());
    o.addProperty("uuid", d.uuid());
    o.addProperty("state", d.state().name());
    o.addProperty("reason", d.reason().name());
    o.addProperty("stateTime", d.stateTime().toString());
    o.addProperty("pid", d.pid());
    o.addProperty("accelerator", d.accelerator().name());
    o.addProperty("memoryBytes", d.memoryBytes());
    o.addProperty("currentMemoryBytes", d.currentMemoryBytes());
    o.addProperty("vcpus", d.vcpus());
    o.addProperty("hasManagedSave", d.hasManagedSave());
    return o;
  }

  static JsonArray domains(List<Domain> list) {
    JsonArray a = new JsonArray();
    list.forEach(d -> a.add(domain(d)));
    return a;
  }

  static JsonObject event(DomainEvent e) {
    JsonObject o = new JsonObject();
    o.addProperty("name", e.name());
    o.addProperty("type", e.type().name());
    o.addProperty("state", e.state().name());
    o.addProperty("reason", e.reason().name());
    o.addProperty("time", e.time().toString());
    return o;
  }

  /** A duration as proto3 JSON writes one: seconds with a unit, {@code "1.250s"}. */
  static String seconds(Duration d) {
    return String.format(Locale.ROOT, "%.3fs", d.toNanos() / 1e9);
  }

  static JsonObject saveSummary(SaveSummary s) {
    JsonObject o = new JsonObject();
    o.addProperty("imageBytes", s.imageBytes());
    o.addProperty("payloadBytes", s.payloadBytes());
    o.addProperty("migrationBytes", s.migrationBytes());
    o.addProperty("sha256", s.sha256());
    o.addProperty("duration", seconds(s.duration()));
    o.addProperty("downtime", seconds(s.downtime()));
    if (s.serverPath() != null) {
      o.addProperty("path", s.serverPath());
    }
    o.add("domain", domain(s.domain()));
    return o;
  }

  static JsonObject restored(Restored r) {
    JsonObject o = new JsonObject();
    o.add("domain", domain(r.domain()));
    o.add("warnings", strings(r.warnings()));
    o.addProperty("verified", r.verified());
    o.addProperty("payloadBytes", r.payloadBytes());
    o.addProperty("duration", seconds(r.duration()));
    return o;
  }

  static JsonObject imageInfo(ImageInfo i) {
    JsonObject o = new JsonObject();
    o.addProperty("xml", i.xml());
    o.addProperty("wasRunning", i.wasRunning());
    o.addProperty("compression", i.compression().name());
    o.addProperty("payloadOffset", i.payloadOffset());
    o.addProperty("payloadBytes", i.payloadBytes());
    o.addProperty("sha256", i.sha256());
    o.addProperty("libvirtCompatible", i.libvirtCompatible());
    o.addProperty("libvirtRestorableBy", i.libvirtRestorableBy());
    o.addProperty("verifiable", i.verifiable());
    return o;
  }

  static JsonObject snapshot(Snapshot s) {
    JsonObject o = new JsonObject();
    o.addProperty("name", s.name());
    o.addProperty("domain", s.domain());
    o.addProperty("description", s.description());
    o.addProperty("state", s.state().name());
    if (s.parent() != null) {
      o.addProperty("parent", s.parent());
    }
    o.addProperty("creationTime", s.creationTime().toString());
    o.addProperty("memory", s.memory().name());
    if (s.memoryFile() != null) {
      o.addProperty("memoryFile", s.memoryFile());
    }
    JsonArray disks = new JsonArray();
    for (Snapshot.Disk d : s.disks()) {
      JsonObject j = new JsonObject();
      j.addProperty("name", d.name());
      j.addProperty("location", d.location().name());
      if (d.file() != null) {
        j.addProperty("file", d.file());
      }
      if (d.format() != null) {
        j.addProperty("format", d.format());
      }
      disks.add(j);
    }
    o.add("disks", disks);
    o.addProperty("current", s.current());
    o.addProperty("external", s.external());
    return o;
  }

  static JsonObject checkpoint(Checkpoint c) {
    JsonObject o = new JsonObject();
    o.addProperty("name", c.name());
    if (c.parent() != null) {
      o.addProperty("parent", c.parent());
    }
    o.addProperty("description", c.description());
    o.addProperty("createTime", c.createTime().toString());
    JsonArray disks = new JsonArray();
    for (Checkpoint.Disk d : c.disks()) {
      JsonObject j = new JsonObject();
      j.addProperty("name", d.name());
      j.addProperty("bitmap", d.bitmap());
      j.addProperty("bitmapName", d.bitmapName());
      j.addProperty("sizeBytes", d.sizeBytes());
      disks.add(j);
    }
    o.add("disks", disks);
    o.addProperty("leaf", c.leaf());
    o.addProperty("current", c.current());
    return o;
  }

  static JsonObject backupJob(BackupJob j) {
    JsonObject o = new JsonObject();
    o.addProperty("domain", j.domain());
    o.addProperty("kind", j.kind().name());
    o.addProperty("state", j.state().name());
    if (j.since() != null) {
      o.addProperty("since", j.since());
    }
    if (j.checkpoint() != null) {
      o.addProperty("checkpoint", j.checkpoint());
    }
    o.add("disks", strings(j.disks()));
    o.addProperty("bytesDone", j.bytesDone());
    o.addProperty("bytesTotal", j.bytesTotal());
    o.addProperty("message", j.message());
    return o;
  }

  static JsonObject domainJob(DomainJob j) {
    JsonObject o = new JsonObject();
    o.addProperty("operation", j.operation());
    o.addProperty("startTime", j.started().toString());
    o.addProperty("elapsed", seconds(j.elapsed()));
    o.addProperty("phase", j.phase());
    o.addProperty("processedBytes", j.processedBytes());
    o.addProperty("totalBytes", j.totalBytes());
    o.addProperty("abortable", j.abortable());
    o.addProperty("abortRequested", j.abortRequested());
    return o;
  }

  static JsonArray strings(List<String> list) {
    JsonArray a = new JsonArray();
    list.forEach(a::add);
    return a;
  }

  // ---- Human wording, as virsh says it.

  static String state(DomainState s) {
    return switch (s) {
      case SHUTOFF -> "shut off";
      case SHUTDOWN -> "in shutdown";
      default -> lower(s.name());
    };
  }

  static String lower(String enumName) {
    return enumName.toLowerCase(Locale.ROOT).replace('_', ' ');
  }

  static String mib(long bytes) {
    return (bytes >> 20) + " MiB";
  }
}
