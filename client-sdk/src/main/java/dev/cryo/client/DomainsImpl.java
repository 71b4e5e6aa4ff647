package dev.cryo.client;

import static dev.cryo.client.FutureCalls.await;

import com.google.protobuf.Timestamp;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.WatchDomainEventsResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * {@link Domains} over cryo.v1.DomainService: each call waits on its {@link AsyncDomainsImpl}
 * future, so the two styles share one implementation.
 */
final class DomainsImpl implements Domains {
  private static final int DEFAULT_HISTORY_BYTES = 16 * 1024;
  private static final int MAX_HISTORY_BYTES = 1024 * 1024;

  private final DomainServiceGrpc.DomainServiceBlockingStub blocking;
  private final DomainServiceGrpc.DomainServiceStub stub;
  private final AsyncDomainsImpl async;
  private final Duration deadline;

  DomainsImpl(io.grpc.Channel channel, Duration deadline) {
    this(DomainServiceGrpc.newBlockingStub(channel), DomainServiceGrpc.newStub(channel), deadline);
  }

  private DomainsImpl(DomainServiceGrpc.DomainServiceBlockingStub blocking,
      DomainServiceGrpc.DomainServiceStub stub, Duration deadline) {
    this.blocking = blocking;
    this.stub = stub;
    this.async = new AsyncDomainsImpl(stub, deadline);
    this.deadline = deadline;
  }

  @Override
  public Domains withDeadline(Duration deadline) {
    return new DomainsImpl(blocking, stub, Deadlines.check(deadline));
  }

  @Override
  public AsyncDomains async() {
    return async;
  }

  private DomainServiceGrpc.DomainServiceBlockingStub stub() {
    return blocking.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  static <T> T call(Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (RuntimeException e) {
      throw CryoException.from(e);
    }
  }

  @Override
  public Defined define(String xml) {
    return await(async.define(xml));
  }

  @Override
  public Domain define(DomainConfig config) {
    return await(async.define(config));
  }

  @Override
  public void undefine(String name) {
    undefine(name, false);
  }

  @Override
  public void undefine(String name, boolean removeManagedSave) {
    await(async.undefine(name, removeManagedSave));
  }

  @Override
  public Domain start(String name) {
    return start(name, false, false);
  }

  @Override
  public Domain start(String name, boolean paused, boolean forceBoot) {
    return await(async.start(name, paused, forceBoot));
  }

  @Override
  public Domain suspend(String name) {
    return await(async.suspend(name));
  }

  @Override
  public Domain changeMedia(String name, String target, String iso) {
    return await(async.changeMedia(name, target, iso));
  }

  @Override
  public Domain resume(String name) {
    return await(async.resume(name));
  }

  @Override
  public Domain shutdown(String name, Duration timeout) {
    return await(async.shutdown(name, timeout));
  }

  @Override
  public Domain destroy(String name) {
    return await(async.destroy(name));
  }

  @Override
  public Domain get(String name) {
    return await(async.get(name));
  }

  @Override
  public List<Domain> list(Set<DomainState> states) {
    return allPages(token -> listPage(states, 0, token));
  }

  @Override
  public Page<Domain> listPage(Set<DomainState> states, int pageSize, String pageToken) {
    ListDomainsResponse resp = call(() -> stub().listDomains(
        request(states, pageSize, pageToken)));
    return new Page<>(resp.getDomainsList().stream().map(DomainsImpl::fromProto).toList(),
        resp.getNextPageToken());
  }

  static ListDomainsRequest request(Set<DomainState> states, int pageSize, String pageToken) {
    ListDomainsRequest.Builder req = ListDomainsRequest.newBuilder().setPageSize(pageSize)
        .setPageToken(pageToken == null ? "" : pageToken);
    for (DomainState s : states) {
      req.addStates(dev.cryo.api.v1.DomainState.valueOf("DOMAIN_STATE_" + s.name()));
    }
    return req.build();
  }

  /**
   * Every item of a paged listing: asks {@code page} for the first page, then for each next one
   * until the last. Each page is one call with its own deadline.
   */
  static <T> List<T> allPages(java.util.function.Function<String, Page<T>> page) {
    List<T> out = new java.util.ArrayList<>();
    String token = "";
    do {
      Page<T> p = page.apply(token);
      out.addAll(p.items());
      token = p.nextPageToken();
    } while (!token.isEmpty());
    return List.copyOf(out);
  }

  @Override
  public String xml(String name) {
    return await(async.xml(name));
  }

  @Override
  public java.util.Optional<DomainJob> job(String name) {
    return await(async.job(name));
  }

  @Override
  public DomainJob abortJob(String name) {
    return await(async.abortJob(name));
  }

  static DomainJob fromProto(dev.cryo.api.v1.DomainJob j) {
    return new DomainJob(j.getOperation(), instant(j.getStartTime()),
        Duration.ofSeconds(j.getElapsed().getSeconds(), j.getElapsed().getNanos()), j.getPhase(),
        j.getProcessedBytes(), j.getTotalBytes(), j.getAbortable(), j.getAbortRequested());
  }

  @Override
  public AutoCloseable watch(String name, Consumer<DomainEvent> listener) {
    return watch(name, listener, failure -> { });
  }

  @Override
  public AutoCloseable watch(String name, Consumer<DomainEvent> listener,
      Consumer<CryoException> onFailure) {
    return await(async.watch(name, listener, onFailure));
  }

  static DomainEvent fromProto(WatchDomainEventsResponse e) {
    return new DomainEvent(e.getName(),
        enumOf(DomainEvent.Type.class, e.getType().name(), "DOMAIN_EVENT_TYPE_",
            DomainEvent.Type.UNKNOWN),
        state(e.getState()), reason(e.getReason()), instant(e.getTime()));
  }

  @Override
  public Console console(String name) {
    return new ConsoleImpl(stub, name, DEFAULT_HISTORY_BYTES, null);
  }

  @Override
  public Console console(String name, int historyBytes, Consumer<byte[]> output) {
    if (historyBytes < 0 || historyBytes > MAX_HISTORY_BYTES) {
      throw new IllegalArgumentException("historyBytes must be 0.." + MAX_HISTORY_BYTES + ", got "
          + historyBytes);
    }
    // On the wire 0 means the server's default and a negative value means none.
    return new ConsoleImpl(stub, name, historyBytes == 0 ? -1 : historyBytes,
        java.util.Objects.requireNonNull(output, "output"));
  }

  static Domain fromProto(dev.cryo.api.v1.Domain d) {
    return new Domain(d.getName(), d.getUuid(), state(d.getState()), reason(d.getReason()),
        instant(d.getStateTime()), d.getPid(),
        switch (d.getAccelerator()) {
          case ACCELERATOR_KVM -> Accelerator.KVM;
          case ACCELERATOR_TCG -> Accelerator.TCG;
          default -> Accelerator.AUTO;
        },
        d.getMemoryBytes(), d.getCurrentMemoryBytes(), d.getVcpus(), d.getHasManagedSave());
  }

  static DomainState state(dev.cryo.api.v1.DomainState s) {
    return enumOf(DomainState.class, s.name(), "DOMAIN_STATE_", DomainState.UNKNOWN);
  }

  static StateReason reason(dev.cryo.api.v1.DomainStateReason r) {
    return enumOf(StateReason.class, r.name(), "DOMAIN_STATE_REASON_", StateReason.UNKNOWN);
  }

  static Instant instant(Timestamp t) {
    return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
  }

  private static <E extends Enum<E>> E enumOf(Class<E> type, String protoName, String prefix,
      E unknown) {
    if (!protoName.startsWith(prefix)) {
      return unknown;
    }
    try {
      return Enum.valueOf(type, protoName.substring(prefix.length()));
    } catch (IllegalArgumentException e) {
      return unknown;
    }
  }
}
