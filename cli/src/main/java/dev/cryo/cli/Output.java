package dev.cryo.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.DomainState;
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
