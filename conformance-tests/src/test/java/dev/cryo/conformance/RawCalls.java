package dev.cryo.conformance;

import com.google.protobuf.Message;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Calls any Cryo RPC with plain grpc-java, below the SDK, so a test reaches every method and every
 * request field: unary, server-, client- and bidi-streaming alike, with manual flow control in
 * both directions and a bearer token (or none) per channel.
 */
final class RawCalls {
  private RawCalls() {}

  /** What a call ended with, and every response it delivered before. */
  record Outcome(Status status, List<Message> responses) {
    Status.Code code() {
      return status.getCode();
    }

    @Override
    public String toString() {
      return status.getCode() + (status.getDescription() == null ? ""
          : " (" + status.getDescription() + ")") + ", " + responses.size() + " responses";
    }
  }

  /**
   * One call to make: the method, the request messages (one for unary and server-streaming
   * methods), and when the client has seen enough of a response stream that does not end by
   * itself (a console, an event watch): it then cancels and the outcome is OK.
   *
   * @param halfClose whether the client ends its request stream after the last request; a
   *     console is kept open instead, since its end closes the call
   */
  record Call(MethodDescriptor<Message, Message> method, List<Message> requests,
      Predicate<List<Message>> enough, boolean halfClose) {
    Call {
      requests = List.copyOf(requests);
    }

    String name() {
      return method.getFullMethodName();
    }
  }

  /** A plaintext loopback channel; {@code token} null sends no credentials. */
  static Channel channel(ManagedChannel transport, String token) {
    if (token == null) {
      return transport;
    }
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
        "Bearer " + token);
    return ClientInterceptors.intercept(transport,
        MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  static ManagedChannel transport(String target) {
    // Save streams carry chunks of up to a few MiB.
    return NettyChannelBuilder.forTarget(target).usePlaintext()
        .maxInboundMessageSize(64 << 20).flowControlWindow(8 << 20).build();
  }

  /**
   * Every method of every generated {@code *Grpc} class in the proto module's package, found by
   * listing that package's classes rather than naming the services: a service added to the
   * protos shows up here without anyone editing a test.
   */
  static List<ServiceDescriptor> generatedServices() throws IOException {
    Class<?> anchor = dev.cryo.api.v1.DomainServiceGrpc.class;
    String pkg = anchor.getPackageName().replace('.', '/');
    Path location;
    try {
      location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IOException(e);
    }
    List<String> classes = new ArrayList<>();
    if (Files.isDirectory(location)) {
      try (Stream<Path> files = Files.list(location.resolve(pkg))) {
        files.map(p -> p.getFileName().toString()).forEach(classes::add);
      }
    } else {
      try (JarFile jar = new JarFile(location.toFile())) {
        jar.stream().map(e -> e.getName()).filter(n -> n.startsWith(pkg + "/"))
            .map(n -> n.substring(pkg.length() + 1)).forEach(classes::add);
      }
    }
    TreeMap<String, ServiceDescriptor> services = new TreeMap<>();
    for (String c : classes) {
      if (!c.endsWith("Grpc.class") || c.contains("$")) {
        continue;
      }
      try {
        Class<?> grpc = Class.forName(anchor.getPackageName() + "."
            + c.substring(0, c.length() - ".class".length()));
        ServiceDescriptor sd = (ServiceDescriptor) grpc.getMethod("getServiceDescriptor")
            .invoke(null);
        services.put(sd.getName(), sd);
      } catch (ReflectiveOperationException e) {
        throw new IOException("cannot load the service descriptor of " + c, e);
      }
    }
    return List.copyOf(services.values());
  }

  /** Runs {@code call} to its end, or until {@code enough}, within {@code timeoutSeconds}. */
  static Outcome run(Channel channel, Call call, long timeoutSeconds) {
    Collector c = start(channel, call, timeoutSeconds, true);
    try {
      return c.done.get(timeoutSeconds + 30, TimeUnit.SECONDS);
    } catch (Exception e) {
      c.cancel();
      throw new AssertionError(call.name() + " did not end within its deadline", e);
    }
  }

  /**
   * Starts {@code call}; with {@code autoRequest} false the client asks for the first response
   * only, so a server stream stalls on flow control after it, until {@link Collector#cancel}.
   */
  static Collector start(Channel channel, Call call, long timeoutSeconds, boolean autoRequest) {
    Collector c = new Collector(call, autoRequest);
    ClientCall<Message, Message> clientCall = channel.newCall(call.method(),
        CallOptions.DEFAULT.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS));
    switch (call.method().getType()) {
      case UNARY -> ClientCalls.asyncUnaryCall(clientCall, call.requests().get(0), c);
      case SERVER_STREAMING ->
          ClientCalls.asyncServerStreamingCall(clientCall, call.requests().get(0), c);
      case CLIENT_STREAMING -> ClientCalls.asyncClientStreamingCall(clientCall, c);
      case BIDI_STREAMING -> ClientCalls.asyncBidiStreamingCall(clientCall, c);
      default -> throw new IllegalArgumentException("unknown method type of " + call.name());
    }
    return c;
  }

  /** Receives one call's responses, and sends its requests as fast as flow control allows. */
  static final class Collector implements ClientResponseObserver<Message, Message> {
    final CompletableFuture<Outcome> done = new CompletableFuture<>();
    /** Completes with the first response. */
    final CompletableFuture<Message> first = new CompletableFuture<>();
    private final Call call;
    private final boolean autoRequest;
    /** Guarded by itself. */
    private final List<Message> responses = new ArrayList<>();
    private ClientCallStreamObserver<Message> requests;
    /** Next request to send; touched only by the onReady handler, which gRPC serializes. */
    private int next;

    Collector(Call call, boolean autoRequest) {
      this.call = call;
      this.autoRequest = autoRequest;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Message> requestStream) {
      requests = requestStream;
      requestStream.disableAutoRequestWithInitial(1);
      MethodDescriptor.MethodType type = call.method().getType();
      if (type.clientSendsOneMessage()) {
        return;
      }
      // Requests are in memory already: the handler never blocks.
      requestStream.setOnReadyHandler(() -> {
        while (requestStream.isReady() && next < call.requests().size() && !done.isDone()) {
          requestStream.onNext(call.requests().get(next++));
        }
        if (next == call.requests().size() && call.halfClose()) {
          next++;
          requestStream.onCompleted();
        }
      });
    }

    @Override
    public void onNext(Message value) {
      List<Message> seen;
      synchronized (responses) {
        responses.add(value);
        seen = List.copyOf(responses);
      }
      first.complete(value);
      if (call.enough() != null && call.enough().test(seen)) {
        done.complete(new Outcome(Status.OK.withDescription("client had enough"), seen));
        requests.cancel("the test has seen enough", null);
        return;
      }
      if (autoRequest) {
        requests.request(1);
      }
    }

    @Override
    public void onError(Throwable t) {
      done.complete(new Outcome(Status.fromThrowable(t), received()));
      first.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      done.complete(new Outcome(Status.OK, received()));
      first.completeExceptionally(new IllegalStateException("the call ended without a response"));
    }

    List<Message> received() {
      synchronized (responses) {
        return Collections.unmodifiableList(new ArrayList<>(responses));
      }
    }

    void cancel() {
      requests.cancel("the test cancelled", null);
    }

    /** Asks for {@code n} more responses: a client that stopped reading reads again. */
    void request(int n) {
      requests.request(n);
    }
  }

  /** Shorthand for a one-request call that ends by itself. */
  @SuppressWarnings("unchecked")
  static Call call(MethodDescriptor<?, ?> method, Message request) {
    return new Call((MethodDescriptor<Message, Message>) method, List.of(request), null, true);
  }

  /** Unary calls as the test's own setup makes them: any error fails the test at once. */
  @SuppressWarnings("unchecked")
  static <R extends Message> R unary(Channel channel, MethodDescriptor<?, R> method,
      Message request) {
    Outcome o = run(channel, call(method, request), 300);
    if (!o.status().isOk() || o.responses().size() != 1) {
      throw new AssertionError(method.getFullMethodName() + " failed: " + o);
    }
    return (R) o.responses().get(0);
  }
}
