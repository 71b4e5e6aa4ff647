package dev.cryo.server.qemu;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dev.cryo.server.qemu.QemuMonitor.BlockDeviceInfo;
import dev.cryo.server.qemu.QemuMonitor.BlockInfo;
import dev.cryo.server.qemu.QemuMonitor.BlockJobInfo;
import dev.cryo.server.qemu.QemuMonitor.CpuDefinition;
import dev.cryo.server.qemu.QemuMonitor.DirtyBitmap;
import dev.cryo.server.qemu.QemuMonitor.ImageInfo;
import dev.cryo.server.qemu.QemuMonitor.JobInfo;
import dev.cryo.server.qemu.QemuMonitor.MigrationCapability;
import dev.cryo.server.qemu.QemuMonitor.MigrationInfo;
import dev.cryo.server.qemu.QemuMonitor.MigrationParameters;
import dev.cryo.server.qemu.QemuMonitor.RunState;
import java.util.ArrayList;
import java.util.List;

/**
 * QMP's JSON for the commands, results and events of {@link QemuMonitor}, and nothing else (as
 * libvirt's {@code qemu_monitor_json.c} is to {@code qemu_monitor.c}). Member names are QEMU's,
 * checked against {@code query-qmp-schema} of QEMU 7.2. Decoding tolerates missing optional
 * members; a missing mandatory one is a QEMU Cryo cannot work with and fails loudly.
 */
final class QmpJson {
  private QmpJson() {}

  // ---- arguments -------------------------------------------------------------------------------

  static JsonObject object(Object... namesAndValues) {
    JsonObject o = new JsonObject();
    for (int i = 0; i < namesAndValues.length; i += 2) {
      String name = (String) namesAndValues[i];
      Object value = namesAndValues[i + 1];
      if (value instanceof String s) {
        o.addProperty(name, s);
      } else if (value instanceof Number n) {
        o.addProperty(name, n);
      } else if (value instanceof Boolean b) {
        o.addProperty(name, b);
      } else if (value instanceof JsonElement e) {
        o.add(name, e);
      } else {
        throw new IllegalArgumentException(name + ": " + value);
      }
    }
    return o;
  }

  static JsonArray strings(List<String> values) {
    JsonArray a = new JsonArray();
    values.forEach(a::add);
    return a;
  }

  static JsonObject capabilities(List<MigrationCapability> capabilities) {
    JsonArray a = new JsonArray();
    for (MigrationCapability c : capabilities) {
      a.add(object("capability", c.capability(), "state", c.state()));
    }
    return object("capabilities", a);
  }

  static JsonObject parameters(MigrationParameters p) {
    JsonObject o = new JsonObject();
    if (p.maxBandwidth() != null) {
      o.addProperty("max-bandwidth", p.maxBandwidth());
    }
    return o;
  }

  static JsonObject blockdev(BlockdevOptions options) {
    if (options instanceof BlockdevOptions.File f) {
      JsonObject o = object("driver", "file", "filename", f.filename().toString());
      if (f.nodeName() != null) {
        o.addProperty("node-name", f.nodeName());
      }
      if (f.autoReadOnly()) {
        o.addProperty("auto-read-only", true);
      }
      if (f.discardUnmap()) {
        o.addProperty("discard", "unmap");
      }
      return o;
    }
    if (options instanceof BlockdevOptions.Raw r) {
      return object("node-name", r.nodeName(), "read-only", r.readOnly(), "driver", "raw",
          "file", r.file().nodeName());
    }
    BlockdevOptions.Qcow2 q = (BlockdevOptions.Qcow2) options;
    JsonObject o = object("driver", "qcow2", "node-name", q.nodeName());
    o.add("file", q.file() instanceof BlockdevOptions.NodeRef r
        ? new com.google.gson.JsonPrimitive(r.nodeName())
        : blockdev((BlockdevOptions.File) q.file()));
    if (q.noBacking()) {
      o.add("backing", JsonNull.INSTANCE);
    }
    return o;
  }

  static JsonObject transaction(List<TransactionAction> actions) {
    JsonArray a = new JsonArray();
    for (TransactionAction action : actions) {
      a.add(action(action));
    }
    return object("actions", a);
  }

  private static JsonObject action(TransactionAction action) {
    String type;
    JsonObject data;
    if (action instanceof TransactionAction.BlockdevSnapshot s) {
      type = "blockdev-snapshot";
      data = object("node", s.node(), "overlay", s.overlay());
    } else if (action instanceof TransactionAction.BitmapAdd b) {
      type = "block-dirty-bitmap-add";
      data = object("node", b.node(), "name", b.name(), "persistent", b.persistent());
    } else if (action instanceof TransactionAction.BitmapRemove b) {
      type = "block-dirty-bitmap-remove";
      data = object("node", b.node(), "name", b.name());
    } else if (action instanceof TransactionAction.BitmapMerge b) {
      type = "block-dirty-bitmap-merge";
      data = object("node", b.node(), "target", b.target(), "bitmaps", strings(b.bitmaps()));
    } else {
      TransactionAction.BlockdevBackup b = (TransactionAction.BlockdevBackup) action;
      type = "blockdev-backup";
      data = object("job-id", b.jobId(), "device", b.device(), "target", b.target(),
          "sync", b.sync().wire());
      if (b.bitmap() != null) {
        data.addProperty("bitmap", b.bitmap());
      }
      if (b.bitmapMode() != null) {
        data.addProperty("bitmap-mode", b.bitmapMode().wire());
      }
      data.addProperty("auto-dismiss", b.autoDismiss());
      if (b.speed() > 0) {
        data.addProperty("speed", b.speed());
      }
    }
    return object("type", type, "data", data);
  }

  static JsonObject job(QemuJob job) {
    if (job instanceof QemuJob.SnapshotSave s) {
      return object("job-id", s.jobId(), "tag", s.tag(), "vmstate", s.vmstate(),
          "devices", strings(s.devices()));
    }
    if (job instanceof QemuJob.SnapshotLoad s) {
      return object("job-id", s.jobId(), "tag", s.tag(), "vmstate", s.vmstate(),
          "devices", strings(s.devices()));
    }
    if (job instanceof QemuJob.SnapshotDelete s) {
      return object("job-id", s.jobId(), "tag", s.tag(), "devices", strings(s.devices()));
    }
    QemuJob.BlockCommit c = (QemuJob.BlockCommit) job;
    return object("job-id", c.jobId(), "device", c.device(), "top-node", c.topNode(),
        "base-node", c.baseNode(), "auto-dismiss", false);
  }

  // ---- results ---------------------------------------------------------------------------------

  static RunState runState(JsonElement r) {
    JsonObject o = r.getAsJsonObject();
    return new RunState(o.get("status").getAsString(), bool(o, "running"));
  }

  static MigrationInfo migrationInfo(JsonElement r) {
    JsonObject o = r.getAsJsonObject();
    return new MigrationInfo(o.has("status") ? o.get("status").getAsString() : "none",
        o.has("downtime") ? o.get("downtime").getAsLong() : null, string(o, "error-desc"));
  }

  static List<CpuDefinition> cpuDefinitions(JsonElement r) {
    List<CpuDefinition> out = new ArrayList<>();
    for (JsonElement e : r.getAsJsonArray()) {
      out.add(new CpuDefinition(e.getAsJsonObject().get("name").getAsString()));
    }
    return out;
  }

  static long balloonActual(JsonElement r) {
    return r.getAsJsonObject().get("actual").getAsLong();
  }

  static List<BlockInfo> blockInfos(JsonElement r) {
    List<BlockInfo> out = new ArrayList<>();
    for (JsonElement e : r.getAsJsonArray()) {
      JsonObject b = e.getAsJsonObject();
      out.add(new BlockInfo(string(b, "device"), string(b, "qdev"),
          b.has("inserted") ? blockDevice(b.getAsJsonObject("inserted")) : null));
    }
    return out;
  }

  static List<BlockDeviceInfo> blockDevices(JsonElement r) {
    List<BlockDeviceInfo> out = new ArrayList<>();
    for (JsonElement e : r.getAsJsonArray()) {
      out.add(blockDevice(e.getAsJsonObject()));
    }
    return out;
  }

  private static BlockDeviceInfo blockDevice(JsonObject n) {
    List<DirtyBitmap> bitmaps = new ArrayList<>();
    if (n.has("dirty-bitmaps")) {
      for (JsonElement b : n.getAsJsonArray("dirty-bitmaps")) {
        JsonObject o = b.getAsJsonObject();
        bitmaps.add(new DirtyBitmap(string(o, "name"), o.get("count").getAsLong(),
            o.get("granularity").getAsLong(), bool(o, "recording"), bool(o, "busy"),
            bool(o, "persistent"), bool(o, "inconsistent")));
      }
    }
    return new BlockDeviceInfo(n.has("node-name") ? n.get("node-name").getAsString() : "",
        n.get("file").getAsString(), n.get("drv").getAsString(),
        n.has("image") ? image(n.getAsJsonObject("image")) : null, bitmaps);
  }

  private static ImageInfo image(JsonObject i) {
    return new ImageInfo(i.get("filename").getAsString(), string(i, "format"),
        i.has("virtual-size") ? i.get("virtual-size").getAsLong() : 0,
        i.has("backing-image") ? image(i.getAsJsonObject("backing-image")) : null);
  }

  static List<BlockJobInfo> blockJobs(JsonElement r) {
    List<BlockJobInfo> out = new ArrayList<>();
    for (JsonElement e : r.getAsJsonArray()) {
      JsonObject j = e.getAsJsonObject();
      out.add(new BlockJobInfo(string(j, "type"), j.get("device").getAsString(),
          number(j, "len"), number(j, "offset"), string(j, "status"), string(j, "error")));
    }
    return out;
  }

  static List<JobInfo> jobs(JsonElement r) {
    List<JobInfo> out = new ArrayList<>();
    for (JsonElement e : r.getAsJsonArray()) {
      JsonObject j = e.getAsJsonObject();
      out.add(new JobInfo(j.get("id").getAsString(), string(j, "type"),
          j.get("status").getAsString(), number(j, "current-progress"),
          number(j, "total-progress"), string(j, "error")));
    }
    return out;
  }

  // ---- events ----------------------------------------------------------------------------------

  static QemuEvent event(QmpEvent e) {
    JsonObject d = e.data();
    return switch (e.name()) {
      case "STOP" -> new QemuEvent.Stop(e.timestamp());
      case "RESUME" -> new QemuEvent.Resume(e.timestamp());
      case "SHUTDOWN" -> new QemuEvent.Shutdown(e.timestamp(), bool(d, "guest"),
          string(d, "reason"));
      case "BLOCK_IO_ERROR" -> new QemuEvent.BlockIoError(e.timestamp(), string(d, "device"),
          string(d, "node-name"), string(d, "operation"), string(d, "action"),
          string(d, "reason"));
      case "MIGRATION" -> new QemuEvent.Migration(e.timestamp(),
          d.has("status") ? d.get("status").getAsString() : "");
      case "JOB_STATUS_CHANGE" -> new QemuEvent.JobStatusChange(e.timestamp(),
          string(d, "id"), string(d, "status"));
      case "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED" -> new QemuEvent.BlockJobEnded(
          e.timestamp(), e.name().equals("BLOCK_JOB_CANCELLED"), string(d, "type"),
          string(d, "device"), number(d, "len"), number(d, "offset"), string(d, "error"));
      default -> new QemuEvent.Other(e.timestamp(), e.name());
    };
  }

  // ---- members ---------------------------------------------------------------------------------

  private static String string(JsonObject o, String name) {
    JsonElement e = o.get(name);
    return e == null || e.isJsonNull() ? null : e.getAsString();
  }

  private static boolean bool(JsonObject o, String name) {
    JsonElement e = o.get(name);
    return e != null && !e.isJsonNull() && e.getAsBoolean();
  }

  private static long number(JsonObject o, String name) {
    JsonElement e = o.get(name);
    return e == null || e.isJsonNull() ? 0 : e.getAsLong();
  }
}
