package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;

import dev.cryo.api.v1.CheckpointDeleteMode;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.CreateCheckpointRequest;
import dev.cryo.api.v1.DeleteCheckpointRequest;
import dev.cryo.api.v1.GetCheckpointParentRequest;
import dev.cryo.api.v1.GetCheckpointRequest;
import dev.cryo.api.v1.GetCurrentCheckpointRequest;
import dev.cryo.api.v1.LeafFilter;
import dev.cryo.api.v1.ListCheckpointsRequest;
import dev.cryo.api.v1.ListCheckpointsResponse;
import dev.cryo.api.v1.RedefineCheckpointRequest;
import dev.cryo.api.v1.TreeFilter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@link Checkpoints} over cryo.v1.CheckpointService. */
final class CheckpointsImpl implements Checkpoints {
  private final CheckpointServiceGrpc.CheckpointServiceBlockingStub blocking;
  private final Duration deadline;

  CheckpointsImpl(io.grpc.Channel channel, Duration deadline) {
    this.blocking = CheckpointServiceGrpc.newBlockingStub(channel);
    this.deadline = deadline;
  }

  private CheckpointServiceGrpc.CheckpointServiceBlockingStub stub() {
    return blocking.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Checkpoint create(String domain, String xml) {
    return fromProto(call(() -> stub().createCheckpoint(CreateCheckpointRequest.newBuilder()
        .setDomain(domain).setXml(xml).build())).getCheckpoint());
  }

  @Override
  public Checkpoint redefine(String domain, String xml) {
    return fromProto(call(() -> stub().redefineCheckpoint(RedefineCheckpointRequest.newBuilder()
        .setDomain(domain).setXml(xml).build())).getCheckpoint());
  }

  @Override
  public Checkpoint get(String domain, String name) {
    return fromProto(call(() -> stub().getCheckpoint(GetCheckpointRequest.newBuilder()
        .setDomain(domain).setName(name).build())).getCheckpoint());
  }

  @Override
  public Checkpoint getWithSize(String domain, String name) {
    return fromProto(call(() -> stub().getCheckpoint(GetCheckpointRequest.newBuilder()
        .setDomain(domain).setName(name).setIncludeSize(true).build())).getCheckpoint());
  }

  @Override
  public String xml(String domain, String name, boolean excludeDomain) {
    return call(() -> stub().getCheckpoint(GetCheckpointRequest.newBuilder()
        .setDomain(domain).setName(name).setExcludeDomain(excludeDomain).build())).getXml();
  }

  @Override
  public List<Checkpoint> list(String domain) {
    return list(domain, Filter.ALL);
  }

  @Override
  public List<Checkpoint> list(String domain, Filter filter) {
    return DomainsImpl.allPages(token -> listPage(domain, filter, 0, token));
  }

  @Override
  public Page<Checkpoint> listPage(String domain, Filter filter, int pageSize,
      String pageToken) {
    if (filter.leavesOnly() && filter.noLeaves()) {
      throw new CryoException(CryoException.ErrorCode.INVALID_ARGUMENT,
          "leavesOnly and noLeaves exclude each other", null);
    }
    TreeFilter.Builder tree = TreeFilter.newBuilder().setLeaves(
        filter.leavesOnly() ? LeafFilter.LEAF_FILTER_LEAVES_ONLY
            : filter.noLeaves() ? LeafFilter.LEAF_FILTER_NO_LEAVES
            : LeafFilter.LEAF_FILTER_UNSPECIFIED);
    if (filter.parent() != null) {
      if (filter.rootsOnly()) {
        tree.setChildrenOf(filter.parent());
      } else {
        tree.setDescendantsOf(filter.parent());
      }
    } else if (filter.rootsOnly()) {
      tree.setRoots(com.google.protobuf.Empty.getDefaultInstance());
    }
    ListCheckpointsRequest req = ListCheckpointsRequest.newBuilder().setDomain(domain)
        .setTree(tree).setPageSize(pageSize).setPageToken(pageToken == null ? "" : pageToken)
        .build();
    ListCheckpointsResponse resp = call(() -> stub().listCheckpoints(req));
    return new Page<>(resp.getCheckpointsList().stream().map(CheckpointsImpl::fromProto)
        .toList(), resp.getNextPageToken());
  }

  @Override
  public List<Checkpoint> children(String domain, String name) {
    return list(domain, new Filter(true, false, false, name));
  }

  @Override
  public Checkpoint parent(String domain, String name) {
    return fromProto(call(() -> stub().getCheckpointParent(GetCheckpointParentRequest
        .newBuilder().setDomain(domain).setName(name).build())).getCheckpoint());
  }

  @Override
  public Checkpoint current(String domain) {
    return fromProto(call(() -> stub().getCurrentCheckpoint(GetCurrentCheckpointRequest
        .newBuilder().setDomain(domain).build())).getCheckpoint());
  }

  @Override
  public List<String> delete(String domain, String name) {
    return delete(domain, name, DeleteMode.ONE, false);
  }

  @Override
  public List<String> delete(String domain, String name, DeleteMode mode, boolean metadataOnly) {
    CheckpointDeleteMode m = switch (mode) {
      case ONE -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_UNSPECIFIED;
      case WITH_CHILDREN -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_WITH_CHILDREN;
      case CHILDREN_ONLY -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_CHILDREN_ONLY;
    };
    return call(() -> stub().deleteCheckpoint(DeleteCheckpointRequest.newBuilder()
        .setDomain(domain).setName(name).setMode(m).setMetadataOnly(metadataOnly).build()))
        .getDeletedList();
  }

  static Checkpoint fromProto(dev.cryo.api.v1.Checkpoint c) {
    return new Checkpoint(c.getName(), c.getParent().isEmpty() ? null : c.getParent(),
        c.getDescription(), Instant.ofEpochSecond(c.getCreateTime().getSeconds()),
        c.getDisksList().stream().map(d -> new Checkpoint.Disk(d.getName(), d.getBitmap(),
            d.getBitmapName(), d.getSizeBytes())).toList(),
        c.getLeaf(), c.getCurrent());
  }
}
