package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import dev.cryo.api.v1.AbortDomainJobRequest;
import dev.cryo.api.v1.AbortDomainJobResponse;
import dev.cryo.api.v1.ChangeMediaRequest;
import dev.cryo.api.v1.ChangeMediaResponse;
import dev.cryo.api.v1.DefineDomainRequest;
import dev.cryo.api.v1.DefineDomainResponse;
import dev.cryo.api.v1.DestroyDomainRequest;
import dev.cryo.api.v1.DestroyDomainResponse;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.GetDomainJobRequest;
import dev.cryo.api.v1.GetDomainJobResponse;
import dev.cryo.api.v1.GetDomainRequest;
import dev.cryo.api.v1.GetDomainResponse;
import dev.cryo.api.v1.GetDomainXmlRequest;
import dev.cryo.api.v1.GetDomainXmlResponse;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.OpenConsoleRequest;
import dev.cryo.api.v1.OpenConsoleResponse;
import dev.cryo.api.v1.ResumeDomainRequest;
import dev.cryo.api.v1.ResumeDomainResponse;
import dev.cryo.api.v1.ShutdownDomainRequest;
import dev.cryo.api.v1.ShutdownDomainResponse;
import dev.cryo.api.v1.StartDomainRequest;
import dev.cryo.api.v1.StartDomainResponse;
import dev.cryo.api.v1.SuspendDomainRequest;
import dev.cryo.api.v1.SuspendDomainResponse;
import dev.cryo.api.v1.UndefineDomainRequest;
import dev.cryo.api.v1.UndefineDomainResponse;
import dev.cryo.api.v1.WatchDomainEventsRequest;
import dev.cryo.api.v1.WatchDomainEventsResponse;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.DomainState;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.domain.JobInfo;
import dev.cryo.server.domain.RunningQemu;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.qemu.SerialConsole;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/** cryo.v1.DomainService: proto in, {@link Domains} call, proto out. */
final class DomainGrpcService extends DomainServiceGrpc.DomainServiceImplBase {
  private static final int DEFAULT_HISTORY_BYTES = 16 * 1024;

  private final Domains domains;
  private final DomainStarter starter;
  private final StreamLimits limits;
  private final ScheduledExecutorService stallTimer;

  DomainGrpcService(Domains domains, DomainStarter starter, StreamLimits limits,
      ScheduledExecutorService stallTimer) {
    this.domains = domains;
    this.starter = starter;
    this.limits = limits;
    this.stallTimer = stallTimer;
  }

  /**
   * Starts a domain. {@link dev.cryo.server.jobs.ManagedSave#start} plugs in here so that a start
   * restores a managed save, as libvirt's does.
   */
  interface DomainStarter {
    DomainInfo start(Principal caller, String name, boolean paused, boolean forceBoot);
  }

  @Override
  public void defineDomain(DefineDomainRequest req, StreamObserver<DefineDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    DefineDomainResponse.Builder resp = DefineDomainResponse.newBuilder();
    switch (req.getDefinitionCase()) {
      case XML -> {
        Domains.Defined defined = domains.define(caller, req.getXml());
        resp.setDomain(DomainProtos.toProto(defined.domain())).addAllWarnings(defined.warnings());
      }
      case CONFIG -> resp.setDomain(DomainProtos.toProto(
          domains.define(caller, DomainConfigs.toDef(req.getConfig()))));
      default -> throw new InvalidArgumentException("DefineDomainRequest needs xml or config");
    }
    respond(out, resp.build());
  }

  @Override
  public void undefineDomain(UndefineDomainRequest req,
      StreamObserver<UndefineDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    domains.undefine(caller, req.getName(), req.getRemoveManagedSave());
    respond(out, UndefineDomainResponse.getDefaultInstance());
  }

  @Override
  public void startDomain(StartDomainRequest req, StreamObserver<StartDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    DomainInfo info = starter.start(caller, req.getName(), req.getPaused(), req.getForceBoot());
    respond(out, StartDomainResponse.newBuilder().setDomain(DomainProtos.toProto(info)).build());
  }

  @Override
  public void suspendDomain(SuspendDomainRequest req, StreamObserver<SuspendDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    DomainInfo info = domains.suspend(caller, req.getName());
    respond(out, SuspendDomainResponse.newBuilder().setDomain(DomainProtos.toProto(info)).build());
  }

  @Override
  public void changeMedia(ChangeMediaRequest req, StreamObserver<ChangeMediaResponse> out) {
    Principal caller = CallPrincipal.require();
    DomainInfo info = domains.changeMedia(caller, req.getName(), req.getTarget(),
        req.getSource());
    respond(out, ChangeMediaResponse.newBuilder().setDomain(DomainProtos.toProto(info)).build());
  }

  @Override
  public void resumeDomain(ResumeDomainRequest req, StreamObserver<ResumeDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    DomainInfo info = domains.resume(caller, req.getName());
    respond(out, ResumeDomainResponse.newBuilder().setDomain(DomainProtos.toProto(info)).build());
  }

  @Override
  public void shutdownDomain(ShutdownDomainRequest req,
      StreamObserver<ShutdownDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    Duration timeout = Duration.ofSeconds(req.getTimeout().getSeconds(),
        req.getTimeout().getNanos());
    DomainInfo info = domains.shutdown(caller, req.getName(), timeout);
    respond(out, ShutdownDomainResponse.newBuilder().setDomain(DomainProtos.toProto(info))
        .build());
  }

  @Override
  public void destroyDomain(DestroyDomainRequest req, StreamObserver<DestroyDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    DomainInfo info = domains.destroy(caller, req.getName(), req.getGraceful());
    respond(out, DestroyDomainResponse.newBuilder().setDomain(DomainProtos.toProto(info)).build());
  }

  @Override
  public void getDomainJob(GetDomainJobRequest req, StreamObserver<GetDomainJobResponse> out) {
    Principal caller = CallPrincipal.require();
    JobInfo job = domains.job(caller, req.getName());
    GetDomainJobResponse.Builder resp = GetDomainJobResponse.newBuilder();
    if (job != null) {
      resp.setJob(DomainProtos.toProto(job));
    }
    respond(out, resp.build());
  }

  @Override
  public void abortDomainJob(AbortDomainJobRequest req,
      StreamObserver<AbortDomainJobResponse> out) {
    Principal caller = CallPrincipal.require();
    respond(out, AbortDomainJobResponse.newBuilder()
        .setJob(DomainProtos.toProto(domains.abortJob(caller, req.getName()))).build());
  }

  @Override
  public void getDomain(GetDomainRequest req, StreamObserver<GetDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    respond(out, GetDomainResponse.newBuilder()
        .setDomain(DomainProtos.toProto(domains.info(caller, req.getName()))).build());
  }

  @Override
  public void listDomains(ListDomainsRequest req, StreamObserver<ListDomainsResponse> out) {
    Principal caller = CallPrincipal.require();
    Set<DomainState> states = req.getStatesList().isEmpty() ? EnumSet.noneOf(DomainState.class)
        : req.getStatesList().stream().map(DomainProtos::fromProto)
            .collect(Collectors.toCollection(() -> EnumSet.noneOf(DomainState.class)));
    Pages.Page<dev.cryo.api.v1.Domain> page = Pages.page(caller, req,
        domains.list(caller, states), DomainInfo::name, DomainProtos::toProto,
        Pages.Order.BY_KEY);
    respond(out, ListDomainsResponse.newBuilder().addAllDomains(page.items())
        .setNextPageToken(page.nextPageToken()).build());
  }

  @Override
  public void getDomainXml(GetDomainXmlRequest req, StreamObserver<GetDomainXmlResponse> out) {
    Principal caller = CallPrincipal.require();
    respond(out, GetDomainXmlResponse.newBuilder().setXml(domains.xml(caller, req.getName()))
        .build());
  }

  @Override
  public void watchDomainEvents(WatchDomainEventsRequest req,
      StreamObserver<WatchDomainEventsResponse> out) {
    Principal caller = CallPrincipal.require();
    // A name need not be defined yet: watching, then defining, must report the definition.
    String name = req.getName().isEmpty() ? null : req.getName();
    StreamGate<WatchDomainEventsResponse> gate = StreamGate.serverStream(
        (ServerCallStreamObserver<WatchDomainEventsResponse>) out, limits, stallTimer,
        WatchDomainEventsResponse::getSerializedSize, "the event watch");
    // The event bus never waits for a watcher: one that stops reading is dropped by the gate
    // (stall or buffer limit), and its subscription ends with it.
    AutoCloseable subscription = domains.watch(caller, name,
        event -> gate.offer(DomainProtos.toProto(event)));
    gate.onStop(why -> closeQuietly(subscription));
    gate.offer(WatchDomainEventsResponse.newBuilder().setSubscribed(true).build());
  }

  @Override
  public StreamObserver<OpenConsoleRequest> openConsole(StreamObserver<OpenConsoleResponse> out) {
    Principal caller = CallPrincipal.require();
    StreamGate<OpenConsoleResponse> gate = StreamGate.clientStream(
        (ServerCallStreamObserver<OpenConsoleResponse>) out, limits, stallTimer,
        OpenConsoleResponse::getSerializedSize, "the console");
    // Set by the first message; run when the call stops, however.
    AtomicReference<Runnable> detach = new AtomicReference<>(() -> { });
    gate.onStop(why -> detach.get().run());
    return new StreamObserver<>() {
      /** Set by the first message. Only touched on the call's serialized listener thread. */
      private SerialConsole console;

      @Override
      public void onNext(OpenConsoleRequest req) {
        try {
          if (console == null) {
            gate.awaitingClient(false); // After the first message, a quiet user is no stall.
            attach(req);
          } else if (!req.getData().isEmpty()) {
            console.write(req.getData().toByteArray());
          }
          gate.request(1);
        } catch (IOException e) {
          gate.fail(new FailedPreconditionException("the console of the domain closed: "
              + e.getMessage()));
        } catch (RuntimeException e) {
          gate.fail(e);
        }
      }

      private void attach(OpenConsoleRequest req) throws IOException {
        RunningQemu running = Domains.requireActive(domains.get(caller, req.getName()),
            "open the console of");
        console = running.console();
        int history = req.getHistoryBytes() == 0 ? DEFAULT_HISTORY_BYTES : req.getHistoryBytes();
        SerialConsole.Attachment attachment = console.attach(history,
            chunk -> gate.offer(OpenConsoleResponse.newBuilder()
                .setData(ByteString.copyFrom(chunk)).build()));
        detach.set(attachment.detach());
        if (gate.ended()) {
          attachment.detach().run(); // Stopped while attaching.
          return;
        }
        if (attachment.history().length > 0) {
          gate.offer(OpenConsoleResponse.newBuilder()
              .setData(ByteString.copyFrom(attachment.history())).setHistory(true).build());
        }
        running.process().onExit().thenRun(() -> gate.fail(new FailedPreconditionException(
            "domain '" + req.getName() + "' stopped")));
        if (req.getData().size() > 0) {
          console.write(req.getData().toByteArray());
        }
      }

      @Override
      public void onError(Throwable t) {
        // The client cancelled: the gate's cancel handler has detached.
      }

      @Override
      public void onCompleted() {
        detach.get().run();
        gate.complete();
      }
    };
  }

  private static <T> void respond(StreamObserver<T> out, T response) {
    out.onNext(response);
    out.onCompleted();
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      throw new InternalException("could not close a subscription", e);
    }
  }
}
