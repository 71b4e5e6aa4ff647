package dev.cryo.server.grpc;

import com.google.protobuf.Timestamp;
import dev.cryo.api.v1.CreateSnapshotRequest;
import dev.cryo.api.v1.CreateSnapshotResponse;
import dev.cryo.api.v1.DeleteSnapshotRequest;
import dev.cryo.api.v1.DeleteSnapshotResponse;
import dev.cryo.api.v1.GetCurrentSnapshotRequest;
import dev.cryo.api.v1.GetCurrentSnapshotResponse;
import dev.cryo.api.v1.GetSnapshotParentRequest;
import dev.cryo.api.v1.GetSnapshotParentResponse;
import dev.cryo.api.v1.GetSnapshotRequest;
import dev.cryo.api.v1.GetSnapshotResponse;
import dev.cryo.api.v1.ListSnapshotChildrenRequest;
import dev.cryo.api.v1.ListSnapshotChildrenResponse;
import dev.cryo.api.v1.ListSnapshotsRequest;
import dev.cryo.api.v1.ListSnapshotsResponse;
import dev.cryo.api.v1.RevertToSnapshotRequest;
import dev.cryo.api.v1.RevertToSnapshotResponse;
import dev.cryo.api.v1.Snapshot;
import dev.cryo.api.v1.SnapshotDisk;
import dev.cryo.api.v1.SnapshotLocation;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import dev.cryo.api.v1.SnapshotSpec;
import dev.cryo.api.v1.SnapshotState;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.AbortSignal;
import dev.cryo.server.domain.DomainNames;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.snapshot.SnapshotDef.Location;
import dev.cryo.server.snapshot.SnapshotDef;
import dev.cryo.server.snapshot.SnapshotFilter;
import dev.cryo.server.snapshot.SnapshotXml;
import dev.cryo.server.snapshot.Snapshots;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;

/** cryo.v1.SnapshotService: proto in, {@link Snapshots} call, proto out. */
final class SnapshotGrpcService extends SnapshotServiceGrpc.SnapshotServiceImplBase {
  private final Snapshots snapshots;

  SnapshotGrpcService(Snapshots snapshots) {
    this.snapshots = snapshots;
  }

  @Override
  public void createSnapshot(CreateSnapshotRequest req,
      StreamObserver<CreateSnapshotResponse> out) {
    Principal caller = CallPrincipal.require();
    String xml = switch (req.getDefinitionCase()) {
      case XML -> req.getXml();
      case SPEC -> specXml(req.getSpec());
      default -> "<domainsnapshot/>";
    };
    Snapshots.CreateFlags flags = new Snapshots.CreateFlags(req.getDiskOnly(), req.getHalt(),
        req.getRedefine(), req.getCurrent(), req.getNoMetadata(), req.getReuseExternal(),
        req.getAtomic(), req.getLive(), req.getValidate());
    SnapshotDef def = abortOnCancel(abort -> snapshots.create(caller, req.getDomain(), xml, flags,
        abort));
    respond(out, CreateSnapshotResponse.newBuilder()
        .setSnapshot(toProto(req.getDomain(), def, !req.getNoMetadata() && (!req.getRedefine()
            || req.getCurrent()))).build());
  }

  @Override
  public void listSnapshots(ListSnapshotsRequest req, StreamObserver<ListSnapshotsResponse> out) {
    Principal caller = CallPrincipal.require();
    TreeSelection tree = treeSelection(req);
    SnapshotFilter filter = new SnapshotFilter(tree.roots(), tree.under(), tree.directOnly(),
        tree.leavesOnly(), tree.noLeaves(), req.getInactive(), req.getActive(),
        req.getDiskOnly(), req.getInternal(), req.getExternal());
    Pages.Page<Snapshot> page = page(caller, req, req.getDomain(),
        snapshots.list(caller, req.getDomain(), filter));
    respond(out, ListSnapshotsResponse.newBuilder().addAllSnapshots(page.items())
        .setNextPageToken(page.nextPageToken()).build());
  }

  /** The tree part of a listing, from {@code tree} or the fields it replaces. */
  private static TreeSelection treeSelection(ListSnapshotsRequest req) {
    boolean old = req.getRoots() || !req.getDescendantsOf().isEmpty()
        || req.getDirectChildrenOnly() || req.getLeaves() || req.getNoLeaves();
    TreeSelection.requireNotBoth(req.hasTree(), old,
        "roots, descendants_of, direct_children_only, leaves and no_leaves");
    if (req.hasTree()) {
      return TreeSelection.of(req.getTree(), "snapshot");
    }
    return new TreeSelection(req.getRoots(),
        req.getDescendantsOf().isEmpty() ? null : req.getDescendantsOf(),
        req.getDirectChildrenOnly(), req.getLeaves(), req.getNoLeaves());
  }

  private Pages.Page<Snapshot> page(Principal caller, com.google.protobuf.Message req,
      String domain, List<SnapshotDef> defs) {
    SnapshotDef currentDef = snapshots.current(caller, domain);
    String current = currentDef == null ? null : currentDef.name();
    return Pages.page(caller, req, defs, SnapshotDef::name,
        d -> toProto(domain, d, d.name().equals(current)), Pages.Order.STABLE);
  }

  @Override
  public void getSnapshot(GetSnapshotRequest req, StreamObserver<GetSnapshotResponse> out) {
    Principal caller = CallPrincipal.require();
    SnapshotDef def = snapshots.get(caller, req.getDomain(), req.getName());
    respond(out, GetSnapshotResponse.newBuilder().setSnapshot(toProto(req.getDomain(), def,
        snapshots.isCurrent(caller, req.getDomain(), def.name()))).build());
  }

  @Override
  public void getCurrentSnapshot(GetCurrentSnapshotRequest req,
      StreamObserver<GetCurrentSnapshotResponse> out) {
    Principal caller = CallPrincipal.require();
    SnapshotDef def = snapshots.current(caller, req.getDomain());
    if (def == null) {
      throw new CryoException(
              Reason.SNAPSHOT_NOT_FOUND, "domain '" + req.getDomain() + "' has no current snapshot")
          .with("domain", req.getDomain());
    }
    respond(out, GetCurrentSnapshotResponse.newBuilder()
        .setSnapshot(toProto(req.getDomain(), def, true)).build());
  }

  @Override
  public void getSnapshotParent(GetSnapshotParentRequest req,
      StreamObserver<GetSnapshotParentResponse> out) {
    Principal caller = CallPrincipal.require();
    SnapshotDef def = snapshots.get(caller, req.getDomain(), req.getName());
    if (def.parentName() == null) {
      throw new CryoException(
              Reason.SNAPSHOT_NOT_FOUND,
              "snapshot '" + req.getName() + "' is a root: it has no parent")
          .with("domain", req.getDomain())
          .with("snapshot", req.getName());
    }
    SnapshotDef parent = snapshots.get(caller, req.getDomain(), def.parentName());
    respond(out, GetSnapshotParentResponse.newBuilder().setParent(toProto(req.getDomain(),
        parent, snapshots.isCurrent(caller, req.getDomain(), parent.name()))).build());
  }

  @Override
  public void listSnapshotChildren(ListSnapshotChildrenRequest req,
      StreamObserver<ListSnapshotChildrenResponse> out) {
    Principal caller = CallPrincipal.require();
    Pages.Page<Snapshot> page = page(caller, req, req.getDomain(),
        snapshots.children(caller, req.getDomain(), req.getName()));
    respond(out, ListSnapshotChildrenResponse.newBuilder().addAllSnapshots(page.items())
        .setNextPageToken(page.nextPageToken()).build());
  }

  @Override
  public void revertToSnapshot(RevertToSnapshotRequest req,
      StreamObserver<RevertToSnapshotResponse> out) {
    Principal caller = CallPrincipal.require();
    Snapshots.RevertFlags flags = new Snapshots.RevertFlags(req.getRunning(), req.getPaused(),
        req.getForce());
    SnapshotDef def = abortOnCancel(abort -> snapshots.revert(caller, req.getDomain(),
        req.getName(), flags, abort));
    respond(out, RevertToSnapshotResponse.newBuilder()
        .setSnapshot(toProto(req.getDomain(), def, true)).build());
  }

  @Override
  public void deleteSnapshot(DeleteSnapshotRequest req,
      StreamObserver<DeleteSnapshotResponse> out) {
    Principal caller = CallPrincipal.require();
    Snapshots.DeleteMode mode = switch (req.getMode()) {
      case SNAPSHOT_DELETE_MODE_CHILDREN -> Snapshots.DeleteMode.WITH_CHILDREN;
      case SNAPSHOT_DELETE_MODE_CHILDREN_ONLY -> Snapshots.DeleteMode.CHILDREN_ONLY;
      case SNAPSHOT_DELETE_MODE_UNSPECIFIED -> Snapshots.DeleteMode.ONE;
      default -> throw new InvalidArgumentException("unknown delete mode " + req.getModeValue());
    };
    List<String> deleted = snapshots.delete(caller, req.getDomain(), req.getName(), mode,
        req.getMetadataOnly());
    respond(out, DeleteSnapshotResponse.newBuilder().addAllDeleted(deleted).build());
  }

  /**
   * Runs {@code call} with a signal fired when the client cancels this call (or its deadline
   * passes): the job the call started is aborted and undone, as AbortDomainJob would. The
   * listener runs inline (firing only asks the job to stop; it never blocks) and is removed when
   * {@code call} returns, since gRPC cancels the context of every call once it ends.
   */
  private static <T> T abortOnCancel(java.util.function.Function<AbortSignal, T> call) {
    AbortSignal signal = new AbortSignal();
    Context context = Context.current();
    Context.CancellationListener listener = c -> signal.fire();
    context.addListener(listener, Runnable::run);
    try {
      return call.apply(signal);
    } finally {
      context.removeListener(listener);
    }
  }

  private static String specXml(SnapshotSpec spec) {
    if (!spec.getName().isEmpty()) {
      DomainNames.check(spec.getName(), "snapshot");
    }
    List<SnapshotDef.DiskSpec> disks = new ArrayList<>();
    for (SnapshotDisk d : spec.getDisksList()) {
      disks.add(new SnapshotDef.DiskSpec(d.getName(), location(d.getLocation()), d.getFile()));
    }
    return SnapshotXml.format(SnapshotDef.spec(spec.getName(), spec.getDescription(),
        location(spec.getMemory()), spec.getMemoryFile(), disks));
  }

  private static Location location(SnapshotLocation l) {
    return switch (l) {
      case SNAPSHOT_LOCATION_NO -> Location.NO;
      case SNAPSHOT_LOCATION_INTERNAL -> Location.INTERNAL;
      case SNAPSHOT_LOCATION_EXTERNAL -> Location.EXTERNAL;
      case SNAPSHOT_LOCATION_MANUAL -> Location.MANUAL;
      default -> null;
    };
  }

  private static SnapshotLocation location(Location l) {
    if (l == null) {
      return SnapshotLocation.SNAPSHOT_LOCATION_UNSPECIFIED;
    }
    return switch (l) {
      case NO -> SnapshotLocation.SNAPSHOT_LOCATION_NO;
      case INTERNAL -> SnapshotLocation.SNAPSHOT_LOCATION_INTERNAL;
      case EXTERNAL -> SnapshotLocation.SNAPSHOT_LOCATION_EXTERNAL;
      case MANUAL -> SnapshotLocation.SNAPSHOT_LOCATION_MANUAL;
    };
  }

  static Snapshot toProto(String domain, SnapshotDef def, boolean current) {
    Snapshot.Builder b = Snapshot.newBuilder().setName(def.name()).setDomain(domain)
        .setState(state(def.state()))
        .setCreationTime(Timestamp.newBuilder().setSeconds(def.creationTime()))
        .setMemory(location(def.memoryLocation())).setCurrent(current)
        .setExternal(def.isExternal()).setXml(SnapshotXml.format(def));
    if (def.description() != null) {
      b.setDescription(def.description());
    }
    if (def.parentName() != null) {
      b.setParent(def.parentName());
    }
    if (def.memoryFile() != null) {
      b.setMemoryFile(def.memoryFile());
    }
    for (SnapshotDef.Disk d : def.disks()) {
      SnapshotDisk.Builder db = SnapshotDisk.newBuilder().setName(d.name())
          .setLocation(location(d.location()));
      if (d.file() != null) {
        db.setFile(d.file());
      }
      if (d.format() != null) {
        db.setFormat(d.format());
      }
      b.addDisks(db);
    }
    return b.build();
  }

  private static SnapshotState state(String s) {
    if (s == null) {
      return SnapshotState.SNAPSHOT_STATE_UNSPECIFIED;
    }
    return switch (s) {
      case "running" -> SnapshotState.SNAPSHOT_STATE_RUNNING;
      case "paused" -> SnapshotState.SNAPSHOT_STATE_PAUSED;
      case "shutoff" -> SnapshotState.SNAPSHOT_STATE_SHUTOFF;
      case "disk-snapshot" -> SnapshotState.SNAPSHOT_STATE_DISK_SNAPSHOT;
      default -> SnapshotState.SNAPSHOT_STATE_UNSPECIFIED;
    };
  }

  private static <T> void respond(StreamObserver<T> out, T response) {
    out.onNext(response);
    out.onCompleted();
  }
}
