package dev.cryo.server.grpc;

import com.google.protobuf.Timestamp;
import dev.cryo.api.v1.Checkpoint;
import dev.cryo.api.v1.CheckpointDisk;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.CreateCheckpointRequest;
import dev.cryo.api.v1.CreateCheckpointResponse;
import dev.cryo.api.v1.DeleteCheckpointRequest;
import dev.cryo.api.v1.DeleteCheckpointResponse;
import dev.cryo.api.v1.GetCheckpointParentRequest;
import dev.cryo.api.v1.GetCheckpointParentResponse;
import dev.cryo.api.v1.GetCheckpointRequest;
import dev.cryo.api.v1.GetCheckpointResponse;
import dev.cryo.api.v1.GetCurrentCheckpointRequest;
import dev.cryo.api.v1.GetCurrentCheckpointResponse;
import dev.cryo.api.v1.ListCheckpointsRequest;
import dev.cryo.api.v1.ListCheckpointsResponse;
import dev.cryo.api.v1.RedefineCheckpointRequest;
import dev.cryo.api.v1.RedefineCheckpointResponse;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.checkpoint.CheckpointDef;
import dev.cryo.server.checkpoint.CheckpointTree;
import dev.cryo.server.checkpoint.CheckpointXml;
import dev.cryo.server.checkpoint.Checkpoints;
import dev.cryo.server.error.InvalidArgumentException;
import io.grpc.stub.StreamObserver;
import java.util.List;

/** cryo.v1.CheckpointService: proto in, {@link Checkpoints} call, proto out. */
final class CheckpointGrpcService extends CheckpointServiceGrpc.CheckpointServiceImplBase {
  private final Checkpoints checkpoints;

  CheckpointGrpcService(Checkpoints checkpoints) {
    this.checkpoints = checkpoints;
  }

  @Override
  public void createCheckpoint(CreateCheckpointRequest req,
      StreamObserver<CreateCheckpointResponse> out) {
    Principal caller = CallPrincipal.require();
    CheckpointDef def = checkpoints.create(caller, req.getDomain(), req.getXml());
    Checkpoints.Listed listed = checkpoints.get(caller, req.getDomain(), def.getName(), false);
    respond(out, CreateCheckpointResponse.newBuilder().setCheckpoint(toProto(listed)).build());
  }

  @Override
  public void redefineCheckpoint(RedefineCheckpointRequest req,
      StreamObserver<RedefineCheckpointResponse> out) {
    Principal caller = CallPrincipal.require();
    CheckpointDef def = checkpoints.redefine(caller, req.getDomain(), req.getXml());
    Checkpoints.Listed listed = checkpoints.get(caller, req.getDomain(), def.getName(), false);
    respond(out, RedefineCheckpointResponse.newBuilder().setCheckpoint(toProto(listed)).build());
  }

  @Override
  public void getCheckpoint(GetCheckpointRequest req, StreamObserver<GetCheckpointResponse> out) {
    Principal caller = CallPrincipal.require();
    Checkpoints.Listed listed = checkpoints.get(caller, req.getDomain(), req.getName(),
        req.getIncludeSize());
    respond(out, GetCheckpointResponse.newBuilder().setCheckpoint(toProto(listed))
        .setXml(CheckpointXml.format(listed.def(), !req.getExcludeDomain())).build());
  }

  @Override
  public void listCheckpoints(ListCheckpointsRequest req,
      StreamObserver<ListCheckpointsResponse> out) {
    Principal caller = CallPrincipal.require();
    TreeSelection tree = treeSelection(req);
    List<Checkpoints.Listed> listed;
    if (tree.under() == null) {
      listed = checkpoints.list(caller, req.getDomain(), new CheckpointTree.Filter(
          tree.roots(), tree.leavesOnly(), tree.noLeaves()));
    } else {
      listed = checkpoints.children(caller, req.getDomain(), tree.under(), !tree.directOnly())
          .stream()
          .filter(l -> !(tree.leavesOnly() && !l.leaf()) && !(tree.noLeaves() && l.leaf()))
          .toList();
    }
    Pages.Page<Checkpoint> page = Pages.page(caller, req, listed, l -> l.def().getName(),
        CheckpointGrpcService::toProto, Pages.Order.STABLE);
    respond(out, ListCheckpointsResponse.newBuilder().addAllCheckpoints(page.items())
        .setNextPageToken(page.nextPageToken()).build());
  }

  /** The tree part of a listing, from {@code tree} or the fields it replaces. */
  private static TreeSelection treeSelection(ListCheckpointsRequest req) {
    boolean old = req.getRootsOnly() || req.getLeavesOnly() || req.getNoLeaves()
        || !req.getParent().isEmpty();
    TreeSelection.requireNotBoth(req.hasTree(), old,
        "roots_only, leaves_only, no_leaves and parent");
    if (req.hasTree()) {
      return TreeSelection.of(req.getTree(), "checkpoint");
    }
    if (req.getLeavesOnly() && req.getNoLeaves()) {
      throw new InvalidArgumentException("leaves_only and no_leaves exclude each other");
    }
    // roots_only with a parent meant "only its direct children".
    boolean under = !req.getParent().isEmpty();
    return new TreeSelection(req.getRootsOnly() && !under, under ? req.getParent() : null,
        under && req.getRootsOnly(), req.getLeavesOnly(), req.getNoLeaves());
  }

  @Override
  public void getCheckpointParent(GetCheckpointParentRequest req,
      StreamObserver<GetCheckpointParentResponse> out) {
    Principal caller = CallPrincipal.require();
    respond(out, GetCheckpointParentResponse.newBuilder()
        .setCheckpoint(toProto(checkpoints.parent(caller, req.getDomain(), req.getName())))
        .build());
  }

  @Override
  public void getCurrentCheckpoint(GetCurrentCheckpointRequest req,
      StreamObserver<GetCurrentCheckpointResponse> out) {
    Principal caller = CallPrincipal.require();
    respond(out, GetCurrentCheckpointResponse.newBuilder()
        .setCheckpoint(toProto(checkpoints.current(caller, req.getDomain()))).build());
  }

  @Override
  public void deleteCheckpoint(DeleteCheckpointRequest req,
      StreamObserver<DeleteCheckpointResponse> out) {
    Principal caller = CallPrincipal.require();
    Checkpoints.DeleteMode mode = switch (req.getMode()) {
      case CHECKPOINT_DELETE_MODE_WITH_CHILDREN -> Checkpoints.DeleteMode.WITH_CHILDREN;
      case CHECKPOINT_DELETE_MODE_CHILDREN_ONLY -> Checkpoints.DeleteMode.CHILDREN_ONLY;
      default -> Checkpoints.DeleteMode.ONE;
    };
    List<String> deleted = checkpoints.delete(caller, req.getDomain(), req.getName(), mode,
        req.getMetadataOnly());
    respond(out, DeleteCheckpointResponse.newBuilder().addAllDeleted(deleted).build());
  }

  static Checkpoint toProto(Checkpoints.Listed listed) {
    CheckpointDef def = listed.def();
    Checkpoint.Builder b = Checkpoint.newBuilder()
        .setName(def.getName())
        .setParent(def.getParent() == null ? "" : def.getParent())
        .setDescription(def.getDescription() == null ? "" : def.getDescription())
        .setCreateTime(Timestamp.newBuilder().setSeconds(
            def.getCreationTime() == null ? 0 : def.getCreationTime()))
        .setLeaf(listed.leaf())
        .setCurrent(listed.current());
    for (CheckpointDef.Disk d : def.disks()) {
      b.addDisks(CheckpointDisk.newBuilder()
          .setName(d.getName())
          .setBitmap(d.hasBitmap())
          .setBitmapName(d.getBitmap() == null ? "" : d.getBitmap())
          .setSizeBytes(d.getSize() == null ? 0 : d.getSize()));
    }
    return b.build();
  }

  private static <T> void respond(StreamObserver<T> out, T message) {
    out.onNext(message);
    out.onCompleted();
  }
}
