package dev.cryo.client;

import static dev.cryo.client.FutureCalls.unary;

import dev.cryo.api.v1.AbortDomainJobRequest;
import dev.cryo.api.v1.ChangeMediaRequest;
import dev.cryo.api.v1.DefineDomainRequest;
import dev.cryo.api.v1.DestroyDomainRequest;
import dev.cryo.api.v1.DiskConfig;
import dev.cryo.api.v1.DiskFormat;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainJobRequest;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.api.v1.GetDomainXmlRequest;
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
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * {@link AsyncDomains} over cryo.v1.DomainService's async stub. {@link DomainsImpl}'s blocking
 * calls wait on these futures, so both styles build the same requests and read the same answers.
 */
final class AsyncDomainsImpl implements AsyncDomains {
  private final DomainServiceGrpc.DomainServiceStub stub;
  private final Duration deadline;

  AsyncDomainsImpl(DomainServiceGrpc.DomainServiceStub stub, Duration deadline) {
    this.stub = stub;
    this.deadline = deadline;
  }

  @Override
  public AsyncDomainsImpl withDeadline(Duration deadline) {
    return new AsyncDomainsImpl(stub, Deadlines.check(deadline));
  }

  private DomainServiceGrpc.DomainServiceStub stub() {
    return stub(deadline);
  }

  private DomainServiceGrpc.DomainServiceStub stub(Duration d) {
    return stub.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public CompletableFuture<Defined> define(String xml) {
    return unary(DefineDomainRequest.newBuilder().setXml(xml).build(), stub()::defineDomain,
        r -> new Defined(DomainsImpl.fromProto(r.getDomain()), r.getWarningsList()));
  }

  @Override
  public CompletableFuture<Domain> define(DomainConfig config) {
    return unary(DefineDomainRequest.newBuilder().setConfig(toProto(config)).build(),
        stub()::defineDomain, r -> DomainsImpl.fromProto(r.getDomain()));
  }

  private static dev.cryo.api.v1.DomainConfig toProto(DomainConfig config) {
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
    return b.build();
  }

  private static void setIfPresent(String value, Consumer<String> setter) {
    if (value != null && !value.isEmpty()) {
      setter.accept(value);
    }
  }

  @Override
  public CompletableFuture<Void> undefine(String name, boolean removeManagedSave) {
    return unary(UndefineDomainRequest.newBuilder().setName(name)
        .setRemoveManagedSave(removeManagedSave).build(), stub()::undefineDomain, r -> null);
  }

  @Override
  public CompletableFuture<Domain> start(String name) {
    return start(name, false, false);
  }

  @Override
  public CompletableFuture<Domain> start(String name, boolean paused, boolean forceBoot) {
    return unary(StartDomainRequest.newBuilder().setName(name).setPaused(paused)
        .setForceBoot(forceBoot).build(), stub()::startDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> suspend(String name) {
    return unary(SuspendDomainRequest.newBuilder().setName(name).build(), stub()::suspendDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> changeMedia(String name, String target, String iso) {
    return unary(ChangeMediaRequest.newBuilder().setName(name).setTarget(target)
        .setSource(iso == null ? "" : iso).build(), stub()::changeMedia,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> resume(String name) {
    return unary(ResumeDomainRequest.newBuilder().setName(name).build(), stub()::resumeDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> shutdown(String name, Duration timeout) {
    ShutdownDomainRequest req = ShutdownDomainRequest.newBuilder().setName(name)
        .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(timeout.getSeconds())
            .setNanos(timeout.getNano()))
        .build();
    return unary(req, stub(timeout.plus(deadline))::shutdownDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> destroy(String name) {
    return unary(DestroyDomainRequest.newBuilder().setName(name).build(), stub()::destroyDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<Domain> get(String name) {
    return unary(GetDomainRequest.newBuilder().setName(name).build(), stub()::getDomain,
        r -> DomainsImpl.fromProto(r.getDomain()));
  }

  @Override
  public CompletableFuture<List<Domain>> list(Set<DomainState> states) {
    return FutureCalls.allPages(token -> unary(DomainsImpl.request(states, 0, token),
        stub()::listDomains, r -> new Page<>(r.getDomainsList().stream()
            .map(DomainsImpl::fromProto).toList(), r.getNextPageToken())));
  }

  @Override
  public CompletableFuture<String> xml(String name) {
    return unary(GetDomainXmlRequest.newBuilder().setName(name).build(), stub()::getDomainXml,
        r -> r.getXml());
  }

  @Override
  public CompletableFuture<Optional<DomainJob>> job(String name) {
    return unary(GetDomainJobRequest.newBuilder().setName(name).build(), stub()::getDomainJob,
        r -> r.hasJob() ? Optional.of(DomainsImpl.fromProto(r.getJob())) : Optional.empty());
  }

  @Override
  public CompletableFuture<DomainJob> abortJob(String name) {
    return unary(AbortDomainJobRequest.newBuilder().setName(name).build(),
        stub()::abortDomainJob, r -> DomainsImpl.fromProto(r.getJob()));
  }

  @Override
  public CompletableFuture<AutoCloseable> watch(String name, Consumer<DomainEvent> listener,
      Consumer<CryoException> onFailure) {
    Context.CancellableContext context = Context.current().withCancellation();
    AtomicBoolean closed = new AtomicBoolean();
    AutoCloseable handle = () -> {
      closed.set(true);
      context.cancel(null);
    };
    CompletableFuture<AutoCloseable> subscribed = new CompletableFuture<>();
    // The deadline bounds only the wait for the subscription; the stream itself outlives it.
    CompletableFuture.delayedExecutor(deadline.toMillis(), TimeUnit.MILLISECONDS).execute(
        () -> subscribed.completeExceptionally(new CryoException(
            CryoException.ErrorCode.DEADLINE_EXCEEDED, "the server did not confirm the "
            + "subscription within " + deadline, null)));
    subscribed.whenComplete((h, failure) -> {
      if (failure != null) {
        context.cancel(null);
      }
    });
    context.run(() -> stub.watchDomainEvents(
        WatchDomainEventsRequest.newBuilder().setName(name == null ? "" : name).build(),
        new StreamObserver<>() {
          @Override
          public void onNext(WatchDomainEventsResponse e) {
            if (e.getSubscribed()) {
              subscribed.complete(handle);
              return;
            }
            listener.accept(DomainsImpl.fromProto(e));
          }

          @Override
          public void onError(Throwable t) {
            if (!subscribed.completeExceptionally(CryoException.from(t)) && !closed.get()) {
              onFailure.accept(CryoException.from(t));
            }
          }

          @Override
          public void onCompleted() {
            CryoException ended = new CryoException(CryoException.ErrorCode.UNAVAILABLE,
                "the server ended the event stream", null);
            if (!subscribed.completeExceptionally(ended) && !closed.get()) {
              onFailure.accept(ended);
            }
          }
        }));
    return subscribed;
  }
}
