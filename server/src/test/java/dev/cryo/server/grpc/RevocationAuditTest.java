package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.api.v1.CreateSnapshotRequest;
import dev.cryo.api.v1.DefineDomainRequest;
import dev.cryo.api.v1.DefineDomainResponse;
import dev.cryo.api.v1.Domain;
import dev.cryo.api.v1.DomainConfig;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.OpenConsoleRequest;
import dev.cryo.api.v1.OpenConsoleResponse;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreOptions;
import dev.cryo.api.v1.StartDomainRequest;
import dev.cryo.api.v1.StartDomainResponse;
import dev.cryo.api.v1.WatchDomainEventsRequest;
import dev.cryo.api.v1.WatchDomainEventsResponse;
import dev.cryo.server.auth.AuditLog;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.ReloadingAccessFile;
import dev.cryo.server.auth.Role;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit and revocation interceptors in the real chain ({@link GrpcServices#chain}) in front
 * of a small fake DomainService, over an in-process transport: the pure wiring, without QEMU
 * (the conformance kit's AccessReloadAuditTest does the same on a real server and guests).
 */
@Timeout(30)
class RevocationAuditTest {
  @TempDir Path dir;
  Path accessPath;
  ReloadingAccessFile access;
  AuditLog audit;
  Server server;
  ManagedChannel channel;
  final CountDownLatch consoleCancelled = new CountDownLatch(1);
  final CountDownLatch watchCancelled = new CountDownLatch(1);

  /** Answers StartDomain, echoes a console, watches forever; remembers cancellations. */
  final class FakeDomains extends DomainServiceGrpc.DomainServiceImplBase {
    @Override
    public void startDomain(StartDomainRequest req, StreamObserver<StartDomainResponse> out) {
      out.onNext(StartDomainResponse.newBuilder().setDomain(Domain.newBuilder()
          .setName(req.getName())).build());
      out.onCompleted();
    }

    @Override
    public void defineDomain(DefineDomainRequest req, StreamObserver<DefineDomainResponse> out) {
      out.onNext(DefineDomainResponse.newBuilder().setDomain(Domain.newBuilder()
          .setName("from-xml")).build());
      out.onCompleted();
    }

    @Override
    public void listDomains(ListDomainsRequest req, StreamObserver<ListDomainsResponse> out) {
      out.onNext(ListDomainsResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void watchDomainEvents(WatchDomainEventsRequest req,
        StreamObserver<WatchDomainEventsResponse> out) {
      ((ServerCallStreamObserver<WatchDomainEventsResponse>) out)
          .setOnCancelHandler(watchCancelled::countDown);
      out.onNext(WatchDomainEventsResponse.newBuilder().setSubscribed(true).build());
    }

    @Override
    public StreamObserver<OpenConsoleRequest> openConsole(
        StreamObserver<OpenConsoleResponse> out) {
      ((ServerCallStreamObserver<OpenConsoleResponse>) out)
          .setOnCancelHandler(consoleCancelled::countDown);
      return new StreamObserver<>() {
        @Override
        public void onNext(OpenConsoleRequest value) {
          out.onNext(OpenConsoleResponse.newBuilder().setData(value.getData()).build());
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          out.onCompleted();
        }
      };
    }
  }

  static String entry(String token, String principal, String role) throws Exception {
    return "token sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(token.getBytes(StandardCharsets.UTF_8))) + " " + principal + " " + role + "\n";
  }

  @BeforeEach
  void start() throws Exception {
    accessPath = Files.writeString(dir.resolve("access"), entry("ops-token", "ops", "admin")
        + entry("bob-token", "bob", "admin") + entry("reader-token", "reader", "read-only"));
    access = ReloadingAccessFile.open(accessPath);
    audit = AuditLog.open(dir.resolve("audit.log"));
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .executor(java.util.concurrent.Executors.newCachedThreadPool())
            .addService(
                ServerInterceptors.intercept(
                    new FakeDomains(), GrpcServices.chain(access, audit, List.of())))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    audit.close();
  }

  DomainServiceGrpc.DomainServiceStub async(String token) {
    Metadata headers = new Metadata();
    if (token != null) {
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + token);
    }
    return DomainServiceGrpc.newStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  DomainServiceGrpc.DomainServiceBlockingStub blocking(String token) {
    Metadata headers = new Metadata();
    if (token != null) {
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + token);
    }
    return DomainServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  /** A console open as {@code token}: its responses and its end. */
  record Console(StreamObserver<OpenConsoleRequest> in,
      LinkedBlockingQueue<OpenConsoleResponse> out, CompletableFuture<Status> end) {}

  Console console(String token) throws Exception {
    LinkedBlockingQueue<OpenConsoleResponse> out = new LinkedBlockingQueue<>();
    CompletableFuture<Status> end = new CompletableFuture<>();
    StreamObserver<OpenConsoleRequest> in = async(token).openConsole(new StreamObserver<>() {
      @Override
      public void onNext(OpenConsoleResponse value) {
        out.add(value);
      }

      @Override
      public void onError(Throwable t) {
        end.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        end.complete(Status.OK);
      }
    });
    in.onNext(OpenConsoleRequest.newBuilder().setName("web1")
        .setData(com.google.protobuf.ByteString.copyFromUtf8("hello")).build());
    assertThat(out.poll(10, TimeUnit.SECONDS)).as("console echo").isNotNull();
    return new Console(in, out, end);
  }

  List<JsonObject> auditLines() throws Exception {
    audit.close();
    return Files.readAllLines(dir.resolve("audit.log")).stream()
        .map(l -> JsonParser.parseString(l).getAsJsonObject()).toList();
  }

  static String field(JsonObject o, String key) {
    return o.get(key).isJsonNull() ? null : o.get(key).getAsString();
  }

  @Test
  void revokedToken_endsItsConsoleAndNextCall_othersKeepTheirs() throws Exception {
    Console bob = console("bob-token");
    Console ops = console("ops-token");
    Files.writeString(accessPath, entry("ops-token", "ops", "admin"));
    assertThat(access.reloadNow()).isTrue();

    Status bobEnd = bob.end().get(10, TimeUnit.SECONDS);
    assertThat(bobEnd.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(bobEnd.getDescription()).contains("'bob'").contains("revoked");
    assertThat(consoleCancelled.await(10, TimeUnit.SECONDS))
        .as("the service's cancel handler ran, as on a client's cancel").isTrue();
    assertThatThrownBy(() -> blocking("bob-token").startDomain(StartDomainRequest.newBuilder()
        .setName("web1").build())).isInstanceOf(StatusRuntimeException.class)
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode())
            .isEqualTo(Status.Code.UNAUTHENTICATED));

    // ops's console is untouched and still answers.
    assertThat(ops.end()).isNotDone();
    ops.in().onNext(OpenConsoleRequest.newBuilder()
        .setData(com.google.protobuf.ByteString.copyFromUtf8("again")).build());
    assertThat(ops.out().poll(10, TimeUnit.SECONDS).getData().toStringUtf8()).isEqualTo("again");
    ops.in().onCompleted();
    assertThat(ops.end().get(10, TimeUnit.SECONDS).isOk()).isTrue();

    List<JsonObject> lines = auditLines();
    assertThat(lines).anySatisfy(o -> {
      assertThat(field(o, "principal")).isEqualTo("bob");
      assertThat(field(o, "rpc")).isEqualTo("cryo.v1.DomainService/OpenConsole");
      assertThat(field(o, "domain")).isEqualTo("web1");
      assertThat(field(o, "outcome")).isEqualTo("UNAUTHENTICATED");
    });
    assertThat(lines).anySatisfy(o -> {
      assertThat(field(o, "principal")).isEqualTo("ops");
      assertThat(field(o, "rpc")).isEqualTo("cryo.v1.DomainService/OpenConsole");
      assertThat(field(o, "outcome")).isEqualTo("OK");
    });
  }

  @Test
  void principalMadeReadOnly_losesItsConsoleButKeepsItsWatch() throws Exception {
    Console bob = console("bob-token");
    java.util.Iterator<WatchDomainEventsResponse> watch = blocking("bob-token")
        .watchDomainEvents(WatchDomainEventsRequest.getDefaultInstance());
    assertThat(watch.next().getSubscribed()).isTrue();
    Files.writeString(accessPath, entry("ops-token", "ops", "admin")
        + entry("bob-token", "bob", "read-only"));
    assertThat(access.reloadNow()).isTrue();

    Status end = bob.end().get(10, TimeUnit.SECONDS);
    assertThat(end.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(end.getDescription()).contains("read-only");
    // The watch is a read-only call: it goes on. Its cancel handler has not run.
    assertThat(watchCancelled.getCount()).isEqualTo(1);
  }

  @Test
  void brokenReload_keepsEveryCallAndToken() throws Exception {
    Console bob = console("bob-token");
    Files.writeString(accessPath, entry("ops-token", "ops", "admin") + "token bad bob admin\n");
    assertThat(access.reloadNow()).isFalse();
    assertThat(bob.end()).isNotDone();
    assertThat(blocking("bob-token").startDomain(StartDomainRequest.newBuilder().setName("web1")
        .build()).getDomain().getName()).isEqualTo("web1");
    bob.in().onCompleted();
    assertThat(bob.end().get(10, TimeUnit.SECONDS).isOk()).isTrue();
  }

  @Test
  void audit_recordsActingCallsWithTheirOutcome_notReadOnlyOnes() throws Exception {
    blocking("ops-token").startDomain(StartDomainRequest.newBuilder().setName("web1").build());
    blocking("ops-token").defineDomain(DefineDomainRequest.newBuilder().setXml("<domain/>")
        .build());
    blocking("ops-token").listDomains(ListDomainsRequest.getDefaultInstance());
    for (String token : new String[] {"reader-token", "wrong-token", null}) {
      assertThatThrownBy(() -> blocking(token).startDomain(StartDomainRequest.newBuilder()
          .setName("web1").build())).isInstanceOf(StatusRuntimeException.class);
    }

    List<JsonObject> lines = auditLines();
    assertThat(lines).hasSize(5);
    assertThat(lines).noneSatisfy(o -> assertThat(o.get("rpc").getAsString())
        .endsWith("ListDomains"));
    JsonObject ok = lines.get(0);
    assertThat(ok.get("principal").getAsString()).isEqualTo("ops");
    assertThat(ok.get("rpc").getAsString()).isEqualTo("cryo.v1.DomainService/StartDomain");
    assertThat(ok.get("domain").getAsString()).isEqualTo("web1");
    assertThat(ok.get("outcome").getAsString()).isEqualTo("OK");
    assertThat(ok.has("reason")).isFalse();
    assertThat(lines.get(1).get("domain").getAsString()).as("taken from the response")
        .isEqualTo("from-xml");
    assertThat(lines.get(2).get("principal").getAsString()).isEqualTo("reader");
    assertThat(lines.get(2).get("outcome").getAsString()).isEqualTo("PERMISSION_DENIED");
    assertThat(lines.get(2).get("reason").getAsString()).contains("read-only");
    for (JsonObject o : lines.subList(3, 5)) {
      assertThat(o.get("principal").isJsonNull()).isTrue();
      assertThat(o.get("outcome").getAsString()).isEqualTo("UNAUTHENTICATED");
    }
    assertThat(Files.readString(dir.resolve("audit.log")))
        .doesNotContain("ops-token", "reader-token", "wrong-token");
  }

  @Test
  void domainOf_followsTheDescriptor() {
    assertThat(AuditInterceptor.domainOf(StartDomainRequest.newBuilder().setName("a").build()))
        .isEqualTo("a");
    assertThat(AuditInterceptor.domainOf(CreateSnapshotRequest.newBuilder().setDomain("d")
        .build())).as("domain before name").isEqualTo("d");
    assertThat(AuditInterceptor.domainOf(RestoreDomainRequest.newBuilder().setOptions(
        RestoreOptions.newBuilder().setManagedSaveName("saved")).build())).isEqualTo("saved");
    assertThat(AuditInterceptor.domainOf(DefineDomainRequest.newBuilder().setConfig(
        DomainConfig.newBuilder().setName("c")).build())).isEqualTo("c");
    assertThat(AuditInterceptor.domainOf(DefineDomainResponse.newBuilder().setDomain(
        Domain.newBuilder().setName("r")).build())).isEqualTo("r");
    assertThat(AuditInterceptor.domainOf(ListDomainsRequest.getDefaultInstance())).isNull();
    assertThat(AuditInterceptor.domainOf("not a message")).isNull();
  }

  @Test
  void lostRight_onlyForNarrowing() {
    Principal admin = new Principal("p", Role.ADMIN, Set.of());
    Principal tenant = new Principal("p", Role.ADMIN, Set.of("a1", "a2"));
    Principal reader = new Principal("p", Role.READ_ONLY, Set.of());
    assertThat(RevocationInterceptor.lostRight(admin, admin, "OpenConsole")).isNull();
    assertThat(RevocationInterceptor.lostRight(admin, reader, "OpenConsole"))
        .isEqualTo("is read-only");
    assertThat(RevocationInterceptor.lostRight(admin, reader, "WatchDomainEvents")).isNull();
    assertThat(RevocationInterceptor.lostRight(admin, tenant, "OpenConsole"))
        .isEqualTo("sees fewer domains");
    assertThat(RevocationInterceptor.lostRight(tenant, admin, "OpenConsole")).isNull();
    assertThat(RevocationInterceptor.lostRight(tenant,
        new Principal("p", Role.ADMIN, Set.of("a1", "a2", "a3")), "OpenConsole")).isNull();
    assertThat(RevocationInterceptor.lostRight(tenant,
        new Principal("p", Role.ADMIN, Set.of("a1")), "SaveDomain")).isNotNull();
  }
}
