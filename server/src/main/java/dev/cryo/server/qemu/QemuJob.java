package dev.cryo.server.qemu;

import java.util.List;
import java.util.Objects;

/**
 * A QMP command that starts a background job, for {@link QemuMonitor#runJob}: members as in
 * QEMU's {@code qapi/migration.json} and {@code qapi/block-core.json}.
 */
public sealed interface QemuJob {
  /** The job's id, unique among QEMU's jobs; {@code query-jobs} and job events name it. */
  String jobId();

  /** The QMP command that starts the job. */
  String command();

  /**
   * {@code snapshot-save}: an internal snapshot {@code tag} of {@code devices}, the memory in
   * {@code vmstate}.
   */
  record SnapshotSave(String jobId, String tag, String vmstate, List<String> devices)
      implements QemuJob {
    public SnapshotSave {
      Objects.requireNonNull(jobId, "jobId");
      Objects.requireNonNull(tag, "tag");
      Objects.requireNonNull(vmstate, "vmstate");
      devices = List.copyOf(devices);
    }

    @Override
    public String command() {
      return "snapshot-save";
    }
  }

  /** {@code snapshot-load}: the guest back to internal snapshot {@code tag}. */
  record SnapshotLoad(String jobId, String tag, String vmstate, List<String> devices)
      implements QemuJob {
    public SnapshotLoad {
      Objects.requireNonNull(jobId, "jobId");
      Objects.requireNonNull(tag, "tag");
      Objects.requireNonNull(vmstate, "vmstate");
      devices = List.copyOf(devices);
    }

    @Override
    public String command() {
      return "snapshot-load";
    }
  }

  /** {@code snapshot-delete}: internal snapshot {@code tag} removed from {@code devices}. */
  record SnapshotDelete(String jobId, String tag, List<String> devices) implements QemuJob {
    public SnapshotDelete {
      Objects.requireNonNull(jobId, "jobId");
      Objects.requireNonNull(tag, "tag");
      devices = List.copyOf(devices);
    }

    @Override
    public String command() {
      return "snapshot-delete";
    }
  }

  /**
   * {@code block-commit}: the data of {@code topNode} (and what lies between) into {@code
   * baseNode}, on the chain of {@code device}. With {@code topNode} the active layer this is an
   * active commit, which reaches {@code ready} and pivots to the base when completed. Sent with
   * {@code "auto-dismiss": false}: {@link QemuMonitor#runJob} reads the job's error, then dismisses
   * it.
   */
  record BlockCommit(String jobId, String device, String topNode, String baseNode)
      implements QemuJob {
    public BlockCommit {
      Objects.requireNonNull(jobId, "jobId");
      Objects.requireNonNull(device, "device");
      Objects.requireNonNull(topNode, "topNode");
      Objects.requireNonNull(baseNode, "baseNode");
    }

    @Override
    public String command() {
      return "block-commit";
    }
  }
}
