package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;
import static dev.cryo.client.FutureCalls.await;

import dev.cryo.api.v1.LeafFilter;
import dev.cryo.api.v1.ListSnapshotChildrenRequest;
import dev.cryo.api.v1.ListSnapshotChildrenResponse;
import dev.cryo.api.v1.ListSnapshotsRequest;
import dev.cryo.api.v1.ListSnapshotsResponse;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import dev.cryo.api.v1.TreeFilter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link Snapshots} over cryo.v1.SnapshotService: each call waits on {@link AsyncSnapshotsImpl}'s
 * future or operation, so both styles share one implementation.
 */
final class SnapshotsImpl implements Snapshots {
  private final SnapshotServiceGrpc.SnapshotServiceBlockingStub blocking;
  private final AsyncSnapshotsImpl async;
  private final Duration deadline;

  SnapshotsImpl(io.grpc.Channel channel, Duration deadline, AsyncDomains domains) {
    this.blocking = SnapshotServiceGrpc.newBlockingStub(channel);
    this.async = new AsyncSnapshotsImpl(channel, deadline, domains);
    this.deadline = deadline;
  }

  @Override
  public AsyncSnapshots async() {
    return async;
  }

  private SnapshotServiceGrpc.SnapshotServiceBlockingStub stub(Duration d) {
    return blocking.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Snapshot create(String domain, SnapshotRequest r, Cancellation cancellation) {
    return await(async.create(domain, r, cancellation).result());
  }

  @Override
  public List<Snapshot> list(String domain, SnapshotFilter f) {
    return DomainsImpl.allPages(token -> listPage(domain, f, 0, token));
  }

  @Override
  public Page<Snapshot> listPage(String domain, SnapshotFilter f, int pageSize,
      String pageToken) {
    ListSnapshotsResponse resp = call(() -> stub(deadline).listSnapshots(
        request(domain, f, pageSize, pageToken)));
    return new Page<>(resp.getSnapshotsList().stream().map(AsyncSnapshotsImpl::fromProto).toList(),
        resp.getNextPageToken());
  }

  /** One page of a listing in the shared {@link TreeFilter} vocabulary. */
  static ListSnapshotsRequest request(String domain, SnapshotFilter f, int pageSize,
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
    return ListSnapshotsRequest.newBuilder().setDomain(domain)
        .setTree(tree).setInactive(f.inactive()).setActive(f.active())
        .setDiskOnly(f.diskOnly()).setInternal(f.internal()).setExternal(f.external())
        .setPageSize(pageSize).setPageToken(pageToken == null ? "" : pageToken).build();
  }

  @Override
  public Snapshot get(String domain, String name) {
    return await(async.get(domain, name));
  }

  @Override
  public Snapshot current(String domain) {
    return await(async.current(domain));
  }

  @Override
  public Snapshot parent(String domain, String name) {
    return await(async.parent(domain, name));
  }

  @Override
  public List<Snapshot> children(String domain, String name) {
    return DomainsImpl.allPages(token -> {
      ListSnapshotChildrenResponse resp = call(() -> stub(deadline).listSnapshotChildren(
          ListSnapshotChildrenRequest.newBuilder().setDomain(domain).setName(name)
              .setPageToken(token).build()));
      return new Page<>(resp.getSnapshotsList().stream().map(AsyncSnapshotsImpl::fromProto).toList(),
          resp.getNextPageToken());
    });
  }

  @Override
  public Snapshot revert(String domain, String name, RevertTo to, Cancellation cancellation) {
    return await(async.revert(domain, name, to, cancellation).result());
  }

  @Override
  public List<String> delete(String domain, String name, DeleteMode mode,
      boolean metadataOnly) {
    return await(async.delete(domain, name, mode, metadataOnly));
  }
}
