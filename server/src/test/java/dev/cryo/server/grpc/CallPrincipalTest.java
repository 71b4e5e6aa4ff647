package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.server.auth.Principal;
import io.grpc.BindableService;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCalls;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An adapter that finds no principal on its call refuses it (PERMISSION_DENIED) before touching
 * the core; it never serves it as an administrator. Every method of every cryo.v1 service is
 * tried, taken from the service descriptors, so a new RPC cannot be left out. The adapters get no
 * core at all (null): a call that reached it would fail INTERNAL instead.
 */
@Timeout(30)
class CallPrincipalTest {
  private final List<AutoCloseable> closing = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closing) {
      c.close();
    }
  }

  private static List<BindableService> adaptersWithoutCore() {
    ImageGrpcService images = new ImageGrpcService(null, null, null, null);
    DomainGrpcService.DomainStarter noStarter = (caller, name, paused, forceBoot) -> null;
    return List.of(new DomainGrpcService(null, noStarter, null, null), images.aliasing(),
        new SnapshotGrpcService(null), new CheckpointGrpcService(null),
        new BackupGrpcService(null, null, null, null));
  }

  @Test
  void everyMethod_withoutPrincipal_isPermissionDenied() throws Exception {
    ManagedChannel channel =
        serve(adaptersWithoutCore(), List.of(new ExceptionInterceptor(List.of())));
    Map<String, Status.Code> codes = new TreeMap<>();
    for (BindableService service : adaptersWithoutCore()) {
      ServiceDescriptor sd = service.bindService().getServiceDescriptor();
      for (MethodDescriptor<?, ?> method : sd.getMethods()) {
        codes.put(method.getFullMethodName(), call(channel, method).getCode());
      }
    }
    assertThat(codes).containsKeys("cryo.v1.BackupService/StreamBackup",
        "cryo.v1.ImageService/RestoreDomain", "cryo.v1.ImageService/SaveDomain",
        "cryo.v1.DomainService/WatchDomainEvents", "cryo.v1.DomainService/OpenConsole");
    assertThat(codes).allSatisfy((method, code) ->
        assertThat(code).as(method).isEqualTo(Status.Code.PERMISSION_DENIED));
  }

  @Test
  void localInterceptor_attachesTheLocalPrincipal() throws Exception {
    CompletableFuture<Principal> seen = new CompletableFuture<>();
    ServerServiceDefinition probe = ServerServiceDefinition.builder("test.Probe")
        .addMethod(ServerMethodDefinition.create(probeMethod(),
            ServerCalls.asyncUnaryCall((req, out) -> {
              seen.complete(CallPrincipal.require());
              out.onNext(req);
              out.onCompleted();
            })))
        .build();
    ManagedChannel channel =
        serve(
            List.of(() -> probe),
            List.of(new ExceptionInterceptor(List.of()), CallPrincipal.localInterceptor()));
    assertThat(call(channel, probeMethod()).getCode()).isEqualTo(Status.Code.OK);
    assertThat(seen.get(5, TimeUnit.SECONDS)).isSameAs(Principal.LOCAL);
  }

  private ManagedChannel serve(List<BindableService> services, List<ServerInterceptor> chain)
      throws Exception {
    String name = InProcessServerBuilder.generateName();
    InProcessServerBuilder builder = InProcessServerBuilder.forName(name).directExecutor();
    for (BindableService s : services) {
      builder.addService(ServerInterceptors.intercept(s, chain));
    }
    Server server = builder.build().start();
    ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    closing.add(() -> {
      channel.shutdownNow();
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    });
    return channel;
  }

  /** Sends the method's default request, half-closes, and returns how the call ended. */
  @SuppressWarnings("unchecked")
  private static <Q, R> Status call(ManagedChannel channel, MethodDescriptor<Q, R> method)
      throws Exception {
    Q request = (Q) ((MethodDescriptor.PrototypeMarshaller<Q>) method.getRequestMarshaller())
        .getMessagePrototype();
    CompletableFuture<Status> closed = new CompletableFuture<>();
    ClientCall<Q, R> call = channel.newCall(method, CallOptions.DEFAULT);
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.complete(status);
      }
    }, new Metadata());
    call.request(Integer.MAX_VALUE);
    call.sendMessage(request);
    call.halfClose();
    return closed.get(10, TimeUnit.SECONDS);
  }

  private static MethodDescriptor<com.google.protobuf.Empty, com.google.protobuf.Empty>
      probeMethod() {
    return MethodDescriptor.<com.google.protobuf.Empty, com.google.protobuf.Empty>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName("test.Probe/Get")
        .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
            com.google.protobuf.Empty.getDefaultInstance()))
        .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
            com.google.protobuf.Empty.getDefaultInstance()))
        .build();
  }
}
