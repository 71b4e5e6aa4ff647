package dev.cryo.client;

import com.google.protobuf.Timestamp;
import dev.cryo.api.v1.AbortDomainJobRequest;
import dev.cryo.api.v1.DefineDomainRequest;
import dev.cryo.api.v1.DefineDomainResponse;
import dev.cryo.api.v1.DestroyDomainRequest;
import dev.cryo.api.v1.DiskConfig;
import dev.cryo.api.v1.DiskFormat;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainJobRequest;
import dev.cryo.api.v1.GetDomainJobResponse;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.api.v1.GetDomainXmlRequest;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.ResumeDomainRequest;
import dev.cryo.api.v1.ShutdownDomainRequest;
import dev.cryo.api.v1.StartDomainRequest;
import dev.cryo.api.v1.SuspendDomainRequest;
import dev.cryo.api.v1.UndefineDomainRequest;
import dev.cryo.api.v1.WatchDomainEventsRequest;
import dev.cryo.api.v1.WatchDomainEventsResponse;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;

/** {@link Domains} over cryo.v1.DomainService. */
final class DomainsImpl implements Domains {
  private static final int DEFAULT_HISTORY_BYTES = 16 * 1024;
  private static final int MAX_HISTORY_BYTES = 1024 * 1024;

  private final DomainServiceGrpc.DomainServiceBlockingStub blocking;
  private final DomainServiceGrpc.DomainServiceStub async;
  private final Duration deadline;

  DomainsImpl(io.grpc.Channel channel, Duration deadline) {
    this(DomainServiceGrpc.newBlockingStub(channel), DomainServiceGrpc.newStub(channel), deadline);
  }

  private DomainsImpl(DomainServiceGrpc.DomainServiceBlockingStub blocking,
      DomainServiceGrpc.DomainServiceStub async, Duration deadline) {
    this.blocking = blocking;
    this.async = async;
    this.deadline = deadline;
  }

  @Override
  public Domains withDeadline(Duration deadline) {
    return new DomainsImpl(blocking, async, Deadlines.check(deadline));
  }

  private DomainServiceGrpc.DomainServiceBlockingStub stub() {
    return stub(deadline);
  }

  private DomainServiceGrpc.DomainServiceBlockingStub stub(Duration d) {
    return blocking.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
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
    DefineDomainResponse resp = call(() -> stub().defineDomain(
        DefineDomainRequest.newBuilder().setXml(xml).build()));
    return new Defined(fromProto(resp.getDomain()), resp.getWarningsList());
  }

  @Override
  public Domain define(DomainConfig config) {
    dev.cryo.api.v1.DomainConfig.Builder b = dev.cryo.api.v1.DomainConfig.newBuilder()
        .setName(config.name())
        .setMemoryBytes(config.memoryBytes())
        .setVcpus(config.vcpus())
        .setAccelerator(switch (config.accelerator() == null ? Accelerator.AUTO
            : config.accelerator()) {
          case AUTO -> dev.cryo.api.v1.Accelerator.ACCELERATOR_UNSPECIFIED;
          case KVM -> dev.cryo.api.v1.Accelerator.ACCELERATOR_KVM;
          case TCG -> dev.cryo.api.v1.Accelerator.ACCELERATOR_TCG;
        });
    setIfPresent(config.uuid(), b::setUuid);
    setIfPresent(config.machine(), b::setMachine);
    setIfPresent(config.kernel(), b::setKernel);
    setIfPresent(config.initrd(), b::setInitrd);
    setIfPresent(config.cmdline(), b::setCmdline);
    setIfPresent(config.metadataXml(), b::setMetadataXml);
    setIfPresent(config.description(), b::setDescription);
    for (DomainConfig.Disk d : config.disks()) {
      b.addDisks(DiskConfig.newBuilder().setTarget(d.target()).setSource(d.source())
          .setFormat(d.format() == DomainConfig.DiskFormat.QCOW2 ? DiskFormat.DISK_FORMAT_QCOW2
              : DiskFormat.DISK_FORMAT_RAW)
          .setReadOnly(d.readOnly()));
    }
    return fromProto(call(() -> stub().defineDomain(
        DefineDomainRequest.newBuilder().setConfig(b).build())).getDomain());
  }

  private static void setIfPresent(String value, Consumer<String> setter) {
    if (value != null && !value.isEmpty()) {
      setter.accept(value);
    }
  }

  @Override
  public void undefine(String name) {
    undefine(name, false);
  }

  @Override
  public void undefine(String name, boolean removeManagedSave) {
    call(() -> stub().undefineDomain(UndefineDomainRequest.newBuilder().setName(name)
        .setRemoveManagedSave(removeManagedSave).build()));
  }

  @Override
  public Domain start(String name) {
    return start(name, false, false);
  }

  @Override
  public Domain start(String name, boolean paused, boolean forceBoot) {
    return fromProto(call(() -> stub().startDomain(StartDomainRequest.newBuilder()
        .setName(name).setPaused(paused).setForceBoot(forceBoot).build())).getDomain());
  }

  @Override
  public Domain suspend(String name) {
    return fromProto(call(() -> stub().suspendDomain(
        SuspendDomainRequest.newBuilder().setName(name).build())).getDomain());
  }

  @Override
  public Domain resume(String name) {
    return fromProto(call(() -> stub().resumeDomain(
        ResumeDomainRequest.newBuilder().setName(name).build())).getDomain());
  }

  @Override
  public Domain shutdown(String name, Duration timeout) {
    ShutdownDomainRequest req = ShutdownDomainRequest.newBuilder().setName(name)
        .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(timeout.getSeconds())
            .setNanos(timeout.getNano()))
        .build();
    return fromProto(call(() -> stub(timeout.plus(deadline)).shutdownDomain(req)).getDomain());
  }

  @Override
  public Domain destroy(String name) {
    return fromProto(call(() -> stub().destroyDomain(
        DestroyDomainRequest.newBuilder().setName(name).build())).getDomain());
  }

  @Override
  public Domain get(String name) {
    return fromProto(call(() -> stub().getDomain(
        GetDomainRequest.newBuilder().setName(name).build())).getDomain());
  }

  @Override
  public List<Domain> list(Set<DomainState> states) {
    return allPages(token -> listPage(states, 0, token));
  }

  @Override
  public Page<Domain> listPage(Set<DomainState> states, int pageSize, String pageToken) {
    ListDomainsRequest.Builder req = ListDomainsRequest.newBuilder().setPageSize(pageSize)
        .setPageToken(pageToken == null ? "" : pageToken);
    for (DomainState s : states) {
      req.addStates(dev.cryo.api.v1.DomainState.valueOf("DOMAIN_STATE_" + s.name()));
    }
    ListDomainsResponse resp = call(() -> stub().listDomains(req.build()));
    return new Page<>(resp.getDomainsList().stream().map(DomainsImpl::fromProto).toList(),
        resp.getNextPageToken());
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
    return call(() -> stub().getDomainXml(
        GetDomainXmlRequest.newBuilder().setName(name).build())).getXml();
  }

  @Override
  public java.util.Optional<DomainJob> job(String name) {
    GetDomainJobResponse resp = call(() -> stub().getDomainJob(
        GetDomainJobRequest.newBuilder().setName(name).build()));
    return resp.hasJob() ? java.util.Optional.of(fromProto(resp.getJob()))
        : java.util.Optional.empty();
  }

  @Override
  public DomainJob abortJob(String name) {
    return fromProto(call(() -> stub().abortDomainJob(
        AbortDomainJobRequest.newBuilder().setName(name).build())).getJob());
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
    Context.CancellableContext context = Context.current().withCancellation();
    java.util.concurrent.atomic.AtomicBoolean closed =
        new java.util.concurrent.atomic.AtomicBoolean();
    CompletableFuture<Void> subscribed = new CompletableFuture<>();
    context.run(() -> async.watchDomainEvents(
        WatchDomainEventsRequest.newBuilder().setName(name == null ? "" : name).build(),
        new StreamObserver<>() {
          @Override
          public void onNext(WatchDomainEventsResponse e) {
            if (e.getSubscribed()) {
              subscribed.complete(null);
              return;
            }
            listener.accept(new DomainEvent(e.getName(),
                enumOf(DomainEvent.Type.class, e.getType().name(), "DOMAIN_EVENT_TYPE_",
                    DomainEvent.Type.UNKNOWN),
                state(e.getState()), reason(e.getReason()), instant(e.getTime())));
          }

          @Override
          public void onError(Throwable t) {
            if (!subscribed.completeExceptionally(t) && !closed.get()) {
              onFailure.accept(CryoException.from(t));
            }
          }

          @Override
          public void onCompleted() {
            if (!subscribed.isDone()) {
              subscribed.completeExceptionally(new CryoException(
                  CryoException.ErrorCode.UNAVAILABLE, "the server ended the event stream", null));
            } else if (!closed.get()) {
              onFailure.accept(new CryoException(CryoException.ErrorCode.UNAVAILABLE,
                  "the server ended the event stream", null));
            }
          }
        }));
    // Return only once the server has the subscription, so no later event can be missed.
    try {
      subscribed.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      context.cancel(null);
      throw CryoException.from(e.getCause());
    } catch (InterruptedException | TimeoutException e) {
      context.cancel(null);
      throw CryoException.from(e);
    }
    return () -> {
      closed.set(true);
      context.cancel(null);
    };
  }

  @Override
  public Console console(String name) {
    return new ConsoleImpl(async, name, DEFAULT_HISTORY_BYTES, null);
  }

  @Override
  public Console console(String name, int historyBytes, Consumer<byte[]> output) {
    if (historyBytes < 0 || historyBytes > MAX_HISTORY_BYTES) {
      throw new IllegalArgumentException("historyBytes must be 0.." + MAX_HISTORY_BYTES + ", got "
          + historyBytes);
    }
    // On the wire 0 means the server's default and a negative value means none.
    return new ConsoleImpl(async, name, historyBytes == 0 ? -1 : historyBytes,
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
        d.getMemoryBytes(), d.getVcpus(), d.getHasManagedSave());
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
