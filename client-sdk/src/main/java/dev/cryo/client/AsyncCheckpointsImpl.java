package dev.cryo.client;

import static dev.cryo.client.FutureCalls.unary;

import dev.cryo.api.v1.CheckpointDeleteMode;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.CreateCheckpointRequest;
import dev.cryo.api.v1.DeleteCheckpointRequest;
import dev.cryo.api.v1.GetCheckpointParentRequest;
import dev.cryo.api.v1.GetCheckpointRequest;
import dev.cryo.api.v1.GetCurrentCheckpointRequest;
import dev.cryo.api.v1.ListCheckpointsRequest;
import dev.cryo.api.v1.RedefineCheckpointRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@link AsyncCheckpoints} over cryo.v1.CheckpointService's async stub; {@link CheckpointsImpl}
 * waits on the same futures.
 */
final class AsyncCheckpointsImpl implements AsyncCheckpoints {
  private final CheckpointServiceGrpc.CheckpointServiceStub stub;
  private final Duration deadline;

  AsyncCheckpointsImpl(io.grpc.Channel channel, Duration deadline) {
    this.stub = CheckpointServiceGrpc.newStub(channel);
    this.deadline = deadline;
  }

  private CheckpointServiceGrpc.CheckpointServiceStub stub() {
    return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public CompletableFuture<Checkpoint> create(String domain, String xml) {
    return unary(CreateCheckpointRequest.newBuilder().setDomain(domain).setXml(xml).build(),
        stub()::createCheckpoint, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<Checkpoint> redefine(String domain, String xml) {
    return unary(RedefineCheckpointRequest.newBuilder().setDomain(domain).setXml(xml).build(),
        stub()::redefineCheckpoint, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<Checkpoint> get(String domain, String name) {
    return unary(GetCheckpointRequest.newBuilder().setDomain(domain).setName(name).build(),
        stub()::getCheckpoint, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<Checkpoint> getWithSize(String domain, String name) {
    return unary(GetCheckpointRequest.newBuilder().setDomain(domain).setName(name)
        .setIncludeSize(true).build(), stub()::getCheckpoint, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<String> xml(String domain, String name, boolean excludeDomain) {
    return unary(GetCheckpointRequest.newBuilder().setDomain(domain).setName(name)
        .setExcludeDomain(excludeDomain).build(), stub()::getCheckpoint, r -> r.getXml());
  }

  @Override
  public CompletableFuture<List<Checkpoint>> list(String domain, Checkpoints.Filter filter) {
    ListCheckpointsRequest first;
    try {
      first = CheckpointsImpl.request(domain, filter, 0, "");
    } catch (CryoException e) {
      return CompletableFuture.failedFuture(e);
    }
    return FutureCalls.allPages(token -> unary(first.toBuilder().setPageToken(token).build(),
        stub()::listCheckpoints, r -> new Page<>(r.getCheckpointsList().stream()
            .map(AsyncCheckpointsImpl::fromProto).toList(), r.getNextPageToken())));
  }

  @Override
  public CompletableFuture<List<Checkpoint>> children(String domain, String name) {
    return list(domain, new Checkpoints.Filter(true, false, false, name));
  }

  @Override
  public CompletableFuture<Checkpoint> parent(String domain, String name) {
    return unary(GetCheckpointParentRequest.newBuilder().setDomain(domain).setName(name).build(),
        stub()::getCheckpointParent, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<Checkpoint> current(String domain) {
    return unary(GetCurrentCheckpointRequest.newBuilder().setDomain(domain).build(),
        stub()::getCurrentCheckpoint, r -> fromProto(r.getCheckpoint()));
  }

  @Override
  public CompletableFuture<List<String>> delete(String domain, String name,
      Checkpoints.DeleteMode mode, boolean metadataOnly) {
    CheckpointDeleteMode m = switch (mode) {
      case ONE -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_UNSPECIFIED;
      case WITH_CHILDREN -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_WITH_CHILDREN;
      case CHILDREN_ONLY -> CheckpointDeleteMode.CHECKPOINT_DELETE_MODE_CHILDREN_ONLY;
    };
    return unary(DeleteCheckpointRequest.newBuilder().setDomain(domain).setName(name).setMode(m)
        .setMetadataOnly(metadataOnly).build(), stub()::deleteCheckpoint,
        r -> r.getDeletedList());
  }

  static Checkpoint fromProto(dev.cryo.api.v1.Checkpoint c) {
    return new Checkpoint(c.getName(), c.getParent().isEmpty() ? null : c.getParent(),
        c.getDescription(), Instant.ofEpochSecond(c.getCreateTime().getSeconds()),
        c.getDisksList().stream().map(d -> new Checkpoint.Disk(d.getName(), d.getBitmap(),
            d.getBitmapName(), d.getSizeBytes())).toList(),
        c.getLeaf(), c.getCurrent());
  }
}
