package dev.cryo.server.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.cryo.server.domain.Domain;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.qemu.QmpException;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/** QMP calls on a running domain's block nodes and their dirty bitmaps. */
final class BlockNodes {
  static final Duration QMP_TIMEOUT = Duration.ofSeconds(60);

  private BlockNodes() {}

  /** A dirty bitmap as QEMU reports it. */
  record Bitmap(String name, long count, long granularity, boolean recording, boolean busy,
      boolean persistent, boolean inconsistent) {}

  /** The bitmaps of every node, by node name, then by bitmap name. */
  static Map<String, Map<String, Bitmap>> bitmaps(Domain domain, RunningQemu qemu) {
    JsonObject args = new JsonObject();
    args.addProperty("flat", true);
    JsonArray nodes = execute(domain, qemu, "query-named-block-nodes", args).getAsJsonArray();
    Map<String, Map<String, Bitmap>> out = new HashMap<>();
    for (JsonElement n : nodes) {
      JsonObject node = n.getAsJsonObject();
      Map<String, Bitmap> bitmaps = new HashMap<>();
      if (node.has("dirty-bitmaps")) {
        for (JsonElement b : node.getAsJsonArray("dirty-bitmaps")) {
          JsonObject o = b.getAsJsonObject();
          if (!o.has("name")) {
            continue; // an anonymous bitmap, e.g. the copy bitmap of a running backup job
          }
          bitmaps.put(o.get("name").getAsString(), new Bitmap(o.get("name").getAsString(),
              o.get("count").getAsLong(), o.get("granularity").getAsLong(),
              o.has("recording") && o.get("recording").getAsBoolean(),
              o.has("busy") && o.get("busy").getAsBoolean(),
              o.has("persistent") && o.get("persistent").getAsBoolean(),
              o.has("inconsistent") && o.get("inconsistent").getAsBoolean()));
        }
      }
      out.put(nodeName(node), bitmaps);
    }
    return out;
  }

  /** A node's name; empty for the rare node QEMU reports without one. */
  static String nodeName(JsonObject node) {
    return node.has("node-name") ? node.get("node-name").getAsString() : "";
  }

  /** Runs a QMP command, mapping QEMU's refusal to FAILED_PRECONDITION with its words. */
  static JsonElement execute(Domain domain, RunningQemu qemu, String command, JsonObject args) {
    try {
      return qemu.qmp().execute(command, args, QMP_TIMEOUT);
    } catch (QmpException e) {
      throw new FailedPreconditionException("QEMU refused " + command + " for domain '"
          + domain.name() + "': " + e.description(), e);
    } catch (IOException e) {
      throw new InternalException("lost contact with QEMU of domain '" + domain.name() + "': "
          + e.getMessage(), e);
    }
  }

  static JsonObject action(String type, JsonObject data) {
    JsonObject a = new JsonObject();
    a.addProperty("type", type);
    a.add("data", data);
    return a;
  }

  static JsonObject bitmapAdd(String node, String name) {
    JsonObject d = new JsonObject();
    d.addProperty("node", node);
    d.addProperty("name", name);
    d.addProperty("persistent", true);
    return action("block-dirty-bitmap-add", d);
  }

  static JsonObject bitmapRemove(String node, String name) {
    JsonObject d = new JsonObject();
    d.addProperty("node", node);
    d.addProperty("name", name);
    return action("block-dirty-bitmap-remove", d);
  }

  static JsonObject bitmapMerge(String node, String target, String source) {
    JsonObject d = new JsonObject();
    d.addProperty("node", node);
    d.addProperty("target", target);
    JsonArray sources = new JsonArray();
    sources.add(source);
    d.add("bitmaps", sources);
    return action("block-dirty-bitmap-merge", d);
  }

  static void transaction(Domain domain, RunningQemu qemu, JsonArray actions) {
    if (actions.isEmpty()) {
      return;
    }
    JsonObject args = new JsonObject();
    args.add("actions", actions);
    execute(domain, qemu, "transaction", args);
  }

  /** The node name of the format layer of disk {@code target}, as QemuSpec.Disk names it. */
  static String formatNode(String target) {
    return new dev.cryo.server.qemu.QemuSpec.Disk(target, java.nio.file.Path.of("/"),
        dev.cryo.server.qemu.QemuSpec.DiskFormat.QCOW2, false).formatNode();
  }
}
