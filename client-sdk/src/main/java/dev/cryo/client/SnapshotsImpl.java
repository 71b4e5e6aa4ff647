package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;

import dev.cryo.api.v1.CreateSnapshotRequest;
import dev.cryo.api.v1.DeleteSnapshotRequest;
import dev.cryo.api.v1.GetCurrentSnapshotRequest;
import dev.cryo.api.v1.GetSnapshotParentRequest;
import dev.cryo.api.v1.GetSnapshotRequest;
import dev.cryo.api.v1.LeafFilter;
import dev.cryo.api.v1.ListSnapshotChildrenRequest;
import dev.cryo.api.v1.ListSnapshotChildrenResponse;
import dev.cryo.api.v1.ListSnapshotsRequest;
import dev.cryo.api.v1.ListSnapshotsResponse;
import dev.cryo.api.v1.RevertToSnapshotRequest;
import dev.cryo.api.v1.SnapshotDeleteMode;
import dev.cryo.api.v1.SnapshotDisk;
import dev.cryo.api.v1.SnapshotLocation;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import dev.cryo.api.v1.SnapshotSpec;
import dev.cryo.api.v1.TreeFilter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@link Snapshots} over cryo.v1.SnapshotService. */
final class SnapshotsImpl implements Snapshots {
  /** Snapshots of large guests under TCG take minutes; this bounds one long call. */
  private static final Duration LONG_CALL = Duration.ofMinutes(30);

  private final SnapshotServiceGrpc.SnapshotServiceBlockingStub blocking;
  private final Duration deadline;

  SnapshotsImpl(io.grpc.Channel channel, Duration deadline) {
    this.blocking = SnapshotServiceGrpc.newBlockingStub(channel);
    this.deadline = deadline;
  }

  private SnapshotServiceGrpc.SnapshotServiceBlockingStub stub(Duration d) {
    return blocking.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Snapshot create(String domain, SnapshotRequest r, Cancellation cancellation) {
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
    return fromProto(cancellable(cancellation,
        () -> stub(LONG_CALL).createSnapshot(b.build())).getSnapshot());
  }

  @Override
  public List<Snapshot> list(String domain, SnapshotFilter f) {
    return DomainsImpl.allPages(token -> listPage(domain, f, 0, token));
  }

  @Override
  public Page<Snapshot> listPage(String domain, SnapshotFilter f, int pageSize,
      String pageToken) {
    TreeFilter.Builder tree = TreeFilter.newBuilder().setLeaves(
        f.leaves() == f.nonLeaves() ? LeafFilter.LEAF_FILTER_UNSPECIFIED
            : f.leaves() ? LeafFilter.LEAF_FILTER_LEAVES_ONLY : LeafFilter.LEAF_FILTER_NO_LEAVES);
    if (f.descendantsOf() != null) {
      if (f.directChildrenOnly()) {
        tree.setChildrenOf(f.descendantsOf());
      } else {
        tree.setDescendantsOf(f.descendantsOf());
      }
    } else if (f.roots()) {
      tree.setRoots(com.google.protobuf.Empty.getDefaultInstance());
    }
    ListSnapshotsRequest req = ListSnapshotsRequest.newBuilder().setDomain(domain)
        .setTree(tree).setInactive(f.inactive()).setActive(f.active())
        .setDiskOnly(f.diskOnly()).setInternal(f.internal()).setExternal(f.external())
        .setPageSize(pageSize).setPageToken(pageToken == null ? "" : pageToken).build();
    ListSnapshotsResponse resp = call(() -> stub(deadline).listSnapshots(req));
    return new Page<>(resp.getSnapshotsList().stream().map(SnapshotsImpl::fromProto).toList(),
        resp.getNextPageToken());
  }

  @Override
  public Snapshot get(String domain, String name) {
    return fromProto(call(() -> stub(deadline).getSnapshot(GetSnapshotRequest.newBuilder()
        .setDomain(domain).setName(name).build())).getSnapshot());
  }

  @Override
  public Snapshot current(String domain) {
    return fromProto(call(() -> stub(deadline).getCurrentSnapshot(
        GetCurrentSnapshotRequest.newBuilder().setDomain(domain).build())).getSnapshot());
  }

  @Override
  public Snapshot parent(String domain, String name) {
    return fromProto(call(() -> stub(deadline).getSnapshotParent(
        GetSnapshotParentRequest.newBuilder().setDomain(domain).setName(name).build()))
        .getParent());
  }

  @Override
  public List<Snapshot> children(String domain, String name) {
    return DomainsImpl.allPages(token -> {
      ListSnapshotChildrenResponse resp = call(() -> stub(deadline).listSnapshotChildren(
          ListSnapshotChildrenRequest.newBuilder().setDomain(domain).setName(name)
              .setPageToken(token).build()));
      return new Page<>(resp.getSnapshotsList().stream().map(SnapshotsImpl::fromProto).toList(),
          resp.getNextPageToken());
    });
  }

  @Override
  public Snapshot revert(String domain, String name, RevertTo to, Cancellation cancellation) {
    RevertToSnapshotRequest req = RevertToSnapshotRequest.newBuilder().setDomain(domain)
        .setName(name).setRunning(to == RevertTo.RUNNING).setPaused(to == RevertTo.PAUSED)
        .build();
    return fromProto(cancellable(cancellation,
        () -> stub(LONG_CALL).revertToSnapshot(req)).getSnapshot());
  }

  /**
   * Runs a blocking call in a context that {@code cancellation} cancels: gRPC then cancels the
   * call, and the server aborts the job it started.
   */
  private static <T> T cancellable(Cancellation cancellation, java.util.function.Supplier<T> rpc) {
    io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
    cancellation.onCancel(() -> ctx.cancel(new CryoException(CryoException.ErrorCode.CANCELLED,
        "cancelled by the caller", null)));
    try {
      return call(() -> {
        try {
          return ctx.call(rpc::get);
        } catch (RuntimeException e) {
          throw e;
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
    } finally {
      ctx.cancel(null);
    }
  }

  @Override
  public List<String> delete(String domain, String name, DeleteMode mode,
      boolean metadataOnly) {
    SnapshotDeleteMode m = switch (mode) {
      case ONE -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_UNSPECIFIED;
      case WITH_CHILDREN -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_CHILDREN;
      case CHILDREN_ONLY -> SnapshotDeleteMode.SNAPSHOT_DELETE_MODE_CHILDREN_ONLY;
    };
    return call(() -> stub(LONG_CALL).deleteSnapshot(DeleteSnapshotRequest.newBuilder()
        .setDomain(domain).setName(name).setMode(m).setMetadataOnly(metadataOnly).build()))
        .getDeletedList();
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
