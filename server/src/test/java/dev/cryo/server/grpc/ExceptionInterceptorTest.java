package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.Empty;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.Reason;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a caller receives when service code fails: code, reason, details, no private paths. */
@Timeout(30)
class ExceptionInterceptorTest {
  private static final Path STATE = Path.of("/var/lib/cryo-test-state");
  private static final MethodDescriptor<Empty, Empty> METHOD =
      MethodDescriptor.<Empty, Empty>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("test.Probe/Get")
          .setRequestMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
          .build();

  private Server server;
  private ManagedChannel channel;

  @AfterEach
  void stop() throws InterruptedException {
    channel.shutdownNow();
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Calls a service whose handler does {@code handler} behind the interceptor. */
  private StatusRuntimeException call(Consumer<io.grpc.stub.StreamObserver<Empty>> handler)
      throws Exception {
    ServerServiceDefinition probe =
        ServerServiceDefinition.builder("test.Probe")
            .addMethod(METHOD, ServerCalls.asyncUnaryCall((req, out) -> handler.accept(out)))
            .build();
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(
                ServerInterceptors.intercept(
                    probe, List.of(new ExceptionInterceptor(List.of(STATE)))))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    return catchThrowableOfType(
        StatusRuntimeException.class,
        () ->
            ClientCalls.blockingUnaryCall(
                channel, METHOD, io.grpc.CallOptions.DEFAULT, Empty.getDefaultInstance()));
  }

  @Test
  void thrownCryoException_closesWithItsCodeReasonAndField() throws Exception {
    StatusRuntimeException e =
        call(
            out -> {
              throw new CryoException(Reason.DOMAIN_XML_INVALID, "<vcpu> 'x' is not a number")
                  .with("domain", "vm1")
                  .field("xml");
            });
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).isEqualTo("<vcpu> 'x' is not a number");
    com.google.rpc.Status details = StatusProto.fromThrowable(e);
    ErrorInfo info = details.getDetails(0).unpack(ErrorInfo.class);
    assertThat(info.getReason()).isEqualTo("DOMAIN_XML_INVALID");
    assertThat(info.getMetadataMap()).containsEntry("domain", "vm1");
    assertThat(details.getDetails(1).unpack(BadRequest.class).getFieldViolations(0).getField())
        .isEqualTo("xml");
  }

  @Test
  void privateFolder_isRedactedFromMessageAndDetails() throws Exception {
    String path = STATE.resolve("save/vm1.save").toString();
    StatusRuntimeException e =
        call(
            out -> {
              throw new CryoException(Reason.IMAGE_TRUNCATED, "cannot read " + path).field("path");
            });
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DATA_LOSS);
    assertThat(e.getStatus().getDescription())
        .isEqualTo("cannot read " + ExceptionInterceptor.PRIVATE + "/save/vm1.save");
    com.google.rpc.Status details = StatusProto.fromThrowable(e);
    assertThat(details.toString())
        .doesNotContain(STATE.toString())
        .contains(ExceptionInterceptor.PRIVATE);
    assertThat(
            details.getDetails(1).unpack(BadRequest.class).getFieldViolations(0).getDescription())
        .doesNotContain(STATE.toString());
  }

  @Test
  void statusClosedByTheHandler_isRedactedToo() throws Exception {
    StatusRuntimeException e =
        call(
            out ->
                out.onError(
                    Status.FAILED_PRECONDITION
                        .withDescription("lock held in " + STATE)
                        .asRuntimeException()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getStatus().getDescription())
        .isEqualTo("lock held in " + ExceptionInterceptor.PRIVATE);
  }

  @Test
  void unexpectedException_isInternalWithErrorInfo() throws Exception {
    StatusRuntimeException e =
        call(
            out -> {
              throw new IllegalStateException("bug at " + STATE);
            });
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(e.getStatus().getDescription()).doesNotContain("bug at");
    assertThat(StatusProto.fromThrowable(e).getDetails(0).unpack(ErrorInfo.class).getReason())
        .isEqualTo("INTERNAL");
  }
}
