package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;
import static dev.cryo.client.FutureCalls.await;

import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.ListCheckpointsRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link Checkpoints} over cryo.v1.CheckpointService: each call waits on {@link
 * AsyncCheckpointsImpl}'s future, so both styles share one implementation.
 */
final class CheckpointsImpl implements Checkpoints {
  private final CheckpointServiceGrpc.CheckpointServiceBlockingStub blocking;
  private final AsyncCheckpointsImpl async;
  private final Duration deadline;

  CheckpointsImpl(io.grpc.Channel channel, Duration deadline) {
    this.blocking = CheckpointServiceGrpc.newBlockingStub(channel);
    this.async = new AsyncCheckpointsImpl(channel, deadline);
    this.deadline = deadline;
  }

  @Override
  public AsyncCheckpoints async() {
    return async;
  }

  private CheckpointServiceGrpc.CheckpointServiceBlockingStub stub() {
    return blocking.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Checkpoint create(String domain, String xml) {
    return await(async.create(domain, xml));
  }

  @Override
  public Checkpoint redefine(String domain, String xml) {
    return await(async.redefine(domain, xml));
  }

  @Override
  public Checkpoint get(String domain, String name) {
    return await(async.get(domain, name));
  }

  @Override
  public Checkpoint getWithSize(String domain, String name) {
    return await(async.getWithSize(domain, name));
  }

  @Override
  public String xml(String domain, String name, boolean excludeDomain) {
    return await(async.xml(domain, name, excludeDomain));
  }

  @Override
  public List<Checkpoint> list(String domain) {
    return list(domain, Filter.ALL);
  }

  @Override
  public List<Checkpoint> list(String domain, Filter filter) {
    ListCheckpointsRequest.Builder req = ListCheckpointsRequest.newBuilder().setDomain(domain)
        .setRootsOnly(filter.rootsOnly()).setLeavesOnly(filter.leavesOnly())
        .setNoLeaves(filter.noLeaves());
    if (filter.parent() != null) {
      req.setParent(filter.parent());
    }
    return call(() -> stub().listCheckpoints(req.build())).getCheckpointsList().stream()
        .map(AsyncCheckpointsImpl::fromProto).toList();
  }

  @Override
  public List<Checkpoint> children(String domain, String name) {
    return list(domain, new Filter(true, false, false, name));
  }

  @Override
  public Checkpoint parent(String domain, String name) {
    return await(async.parent(domain, name));
  }

  @Override
  public Checkpoint current(String domain) {
    return await(async.current(domain));
  }

  @Override
  public List<String> delete(String domain, String name) {
    return delete(domain, name, DeleteMode.ONE, false);
  }

  @Override
  public List<String> delete(String domain, String name, DeleteMode mode, boolean metadataOnly) {
    return await(async.delete(domain, name, mode, metadataOnly));
  }
}
