package dev.cryo.client;

import static dev.cryo.client.FutureCalls.unary;

import dev.cryo.api.v1.CreateSnapshotRequest;
import dev.cryo.api.v1.DeleteSnapshotRequest;
import dev.cryo.api.v1.GetCurrentSnapshotRequest;
import dev.cryo.api.v1.GetSnapshotParentRequest;
import dev.cryo.api.v1.GetSnapshotRequest;
import dev.cryo.api.v1.ListSnapshotChildrenRequest;
import dev.cryo.api.v1.RevertToSnapshotRequest;
import dev.cryo.api.v1.SnapshotDeleteMode;
import dev.cryo.api.v1.SnapshotDisk;
import dev.cryo.api.v1.SnapshotLocation;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import dev.cryo.api.v1.SnapshotSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@link AsyncSnapshots} over cryo.v1.SnapshotService's async stub; {@link SnapshotsImpl} waits
 * on the same futures and operations.
 */
final class AsyncSnapshotsImpl implements AsyncSnapshots {
  /** Snapshots of large guests under TCG take minutes; this bounds one long call. */
  private static final Duration LONG_CALL = Duration.ofMinutes(30);

  private final SnapshotServiceGrpc.SnapshotServiceStub stub;
  private final Duration deadline;
  private final AsyncDomains domains;

  AsyncSnapshotsImpl(io.grpc.Channel channel, Duration deadline, AsyncDomains domains) {
    this.stub = SnapshotServiceGrpc.newStub(channel);
    this.deadline = deadline;
    this.domains = domains;
  }

  private SnapshotServiceGrpc.SnapshotServiceStub stub(Duration d) {
    return stub.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Operation<Snapshot> create(String domain, SnapshotRequest request) {
    return create(domain, request, null);
  }

  /** @param token cancels it too; null for none */
  RunningOperation<Snapshot> create(String domain, SnapshotRequest r, Cancellation token) {
    CreateSnapshotRequest.Builder b = CreateSnapshotRequest.newBuilder().setDomain(domain)
        .setDiskOnly(r.diskOnly).setHalt(r.halt).setRedefine(r.redefine).setCurrent(r.current)
        .setNoMetadata(r.noMetadata).setReuseExternal(r.reuseExternal).setLive(r.live);
    if (r.xml != null) {
      b.setXml(r.xml);
    } else {
      SnapshotSpec.Builder s = SnapshotSpec.newBuilder().setMemory(toProto(r.memory));
      if (r.name != null) {
        s.setName(r.name);
      }
      if (r.description != null) {
        s.setDescription(r.description);
      }
      if (r.memoryFile != null) {
        s.setMemoryFile(r.memoryFile);
      }
      for (Snapshot.Disk d : r.disks) {
        SnapshotDisk.Builder db = SnapshotDisk.newBuilder().setName(d.name())
            .setLocation(toProto(d.location()));
        if (d.file() != null) {
          db.setFile(d.file());
        }
        s.addDisks(db);
      }
      b.setSpec(s);
    }
    return job(domain, token, () -> unary(b.build(), stub(LONG_CALL)::createSnapshot,
        resp -> fromProto(resp.getSnapshot())));
  }

  @Override
  public Operation<Snapshot> revert(String domain, String name, Snapshots.RevertTo to) {
    return revert(domain, name, to, null);
  }

  RunningOperation<Snapshot> revert(String domain, String name, Snapshots.RevertTo to,
      Cancellation token) {
    RevertToSnapshotRequest req = RevertToSnapshotRequest.newBuilder().setDomain(domain)
        .setName(name).setRunning(to == Snapshots.RevertTo.RUNNING)
        .setPaused(to == Snapshots.RevertTo.PAUSED).build();
    return job(domain, token, () -> unary(req, stub(LONG_CALL)::revertToSnapshot,
        resp -> fromProto(resp.getSnapshot())));
  }

  /**
   * Runs one unary call as an operation: cancelling it cancels the call, and the server then
   * aborts the job it started. Progress comes from polling the domain's job.
   */
  private RunningOperation<Snapshot> job(String domain, Cancellation token,
      java.util.function.Supplier<CompletableFuture<Snapshot>> call) {
    RunningOperation<Snapshot> op = new RunningOperation<>(token);
    op.start(() -> call.get().whenComplete(op::settle));
    op.followJob(domains, domain);
    return op;
  }

  @Override
  public CompletableFuture<List<Snapshot>> list(String domain, SnapshotFilter f) {
    return FutureCalls.allPages(token -> unary(SnapshotsImpl.request(domain, f, 0, token),
        stub(deadline)::listSnapshots, r -> new Page<>(r.getSnapshotsList().stream()
            .map(AsyncSnapshotsImpl::fromProto).toList(), r.getNextPageToken())));
  }

  @Override
  public CompletableFuture<Snapshot> get(String domain, String name) {
    return unary(GetSnapshotRequest.newBuilder().setDomain(domain).setName(name).build(),
        stub(deadline)::getSnapshot, r -> fromProto(r.getSnapshot()));
  }

  @Override
  public CompletableFuture<Snapshot> current(String domain) {
    return unary(GetCurrentSnapshotRequest.newBuilder().setDomain(domain).build(),
        stub(deadline)::getCurrentSnapshot, r -> fromProto(r.getSnapshot()));
  }

  @Override
  public CompletableFuture<Snapshot> parent(String domain, String name) {
    return unary(GetSnapshotParentRequest.newBuilder().setDomain(domain).setName(name).build(),
        stub(deadline)::getSnapshotParent, r -> fromProto(r.getParent()));
  }

  @Override
  public CompletableFuture<List<Snapshot>> children(String domain, String name) {
    return FutureCalls.allPages(token -> unary(ListSnapshotChildrenRequest.newBuilder()
        .setDomain(domain).setName(name).setPageToken(token).build(),
        stub(deadline)::listSnapshotChildren, r -> new Page<>(r.getSnapshotsList().stream()
            .map(AsyncSnapshotsImpl::fromProto).toList(), r.getNextPageToken())));
  }

  @Override
  public CompletableFuture<List<String>> delete(String domain, String name,
      Snapshots.DeleteMode mode, boolean metadataOnly) {
    SnapshotDeleteMode m = switch (mode) {
      case ONE -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_UNSPECIFIED;
      case WITH_CHILDREN -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_CHILDREN;
      case CHILDREN_ONLY -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_CHILDREN_ONLY;
    };
    return unary(DeleteSnapshotRequest.newBuilder().setDomain(domain).setName(name).setMode(m)
        .setMetadataOnly(metadataOnly).build(), stub(LONG_CALL)::deleteSnapshot,
        r -> r.getDeletedList());
  }

  private static SnapshotLocation toProto(Snapshot.Location l) {
    return switch (l == null ? Snapshot.Location.DEFAULT : l) {
      case DEFAULT -> SnapshotLocation.SNAPSHOT_LOCATION_UNSPECIFIED;
      case NO -> SnapshotLocation.SNAPSHOT_LOCATION_NO;
      case INTERNAL -> SnapshotLocation.SNAPSHOT_LOCATION_INTERNAL;
      case EXTERNAL -> SnapshotLocation.SNAPSHOT_LOCATION_EXTERNAL;
      case MANUAL -> SnapshotLocation.SNAPSHOT_LOCATION_MANUAL;
    };
  }

  private static Snapshot.Location fromProto(SnapshotLocation l) {
    return switch (l) {
      case SNAPSHOT_LOCATION_NO -> Snapshot.Location.NO;
      case SNAPSHOT_LOCATION_INTERNAL -> Snapshot.Location.INTERNAL;
      case SNAPSHOT_LOCATION_EXTERNAL -> Snapshot.Location.EXTERNAL;
      case SNAPSHOT_LOCATION_MANUAL -> Snapshot.Location.MANUAL;
      default -> Snapshot.Location.DEFAULT;
    };
  }

  static Snapshot fromProto(dev.cryo.api.v1.Snapshot s) {
    Snapshot.State state = switch (s.getState()) {
      case SNAPSHOT_STATE_RUNNING -> Snapshot.State.RUNNING;
      case SNAPSHOT_STATE_PAUSED -> Snapshot.State.PAUSED;
      case SNAPSHOT_STATE_SHUTOFF -> Snapshot.State.SHUTOFF;
      case SNAPSHOT_STATE_DISK_SNAPSHOT -> Snapshot.State.DISK_SNAPSHOT;
      default -> Snapshot.State.UNKNOWN;
    };
    return new Snapshot(s.getName(), s.getDomain(), s.getDescription(), state,
        s.getParent().isEmpty() ? null : s.getParent(),
        Instant.ofEpochSecond(s.getCreationTime().getSeconds()), fromProto(s.getMemory()),
        s.getMemoryFile().isEmpty() ? null : s.getMemoryFile(),
        s.getDisksList().stream().map(d -> new Snapshot.Disk(d.getName(),
            fromProto(d.getLocation()), d.getFile().isEmpty() ? null : d.getFile(),
            d.getFormat().isEmpty() ? null : d.getFormat())).toList(),
        s.getCurrent(), s.getExternal(), s.getXml());
  }
}
