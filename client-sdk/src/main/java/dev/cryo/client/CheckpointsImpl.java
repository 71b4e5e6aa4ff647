package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;
import static dev.cryo.client.FutureCalls.await;

import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.LeafFilter;
import dev.cryo.api.v1.ListCheckpointsRequest;
import dev.cryo.api.v1.ListCheckpointsResponse;
import dev.cryo.api.v1.TreeFilter;
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
    return DomainsImpl.allPages(token -> listPage(domain, filter, 0, token));
  }

  @Override
  public Page<Checkpoint> listPage(String domain, Filter filter, int pageSize,
      String pageToken) {
    ListCheckpointsRequest req = request(domain, filter, pageSize, pageToken);
    ListCheckpointsResponse resp = call(() -> stub().listCheckpoints(req));
    return new Page<>(resp.getCheckpointsList().stream().map(AsyncCheckpointsImpl::fromProto)
        .toList(), resp.getNextPageToken());
  }

  /**
   * One page of a listing in the shared {@link TreeFilter} vocabulary.
   *
   * @throws CryoException INVALID_ARGUMENT if the filter asks for leaves only and no leaves
   */
  static ListCheckpointsRequest request(String domain, Filter filter, int pageSize,
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
    return ListCheckpointsRequest.newBuilder().setDomain(domain)
        .setTree(tree).setPageSize(pageSize).setPageToken(pageToken == null ? "" : pageToken)
        .build();
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
