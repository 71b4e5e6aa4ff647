package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Detachable;
import io.grpc.HasByteBuffer;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.PrototypeMarshaller;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses messages whose {@code bytes} fields alias gRPC's receive buffers instead of copying
 * them (grpc-java's {@link Detachable} and {@link HasByteBuffer}, the way Google's Cloud Storage
 * connector reads objects). The buffers stay held until {@link #release} of the message; every
 * message parsed must be released once its bytes are no longer used. Where the transport cannot
 * lend its buffers (in-process), this parses as usual and release does nothing.
 */
final class AliasingMarshaller<T extends Message> implements PrototypeMarshaller<T> {
  private final PrototypeMarshaller<T> plain;
  private final Parser<T> parser;
  private final Map<T, InputStream> held = Collections.synchronizedMap(new IdentityHashMap<>());

  @SuppressWarnings("unchecked")
  AliasingMarshaller(T prototype) {
    this.plain = (PrototypeMarshaller<T>) ProtoUtils.marshaller(prototype);
    this.parser = (Parser<T>) prototype.getParserForType();
  }

  /** {@code service} with {@code method}'s requests parsed by {@code marshaller}. */
  static <ReqT extends Message, RespT> ServerServiceDefinition rebind(
      ServerServiceDefinition service, MethodDescriptor<ReqT, RespT> method,
      AliasingMarshaller<ReqT> marshaller) {
    ServiceDescriptor old = service.getServiceDescriptor();
    MethodDescriptor<ReqT, RespT> aliasing = method.toBuilder(marshaller,
        method.getResponseMarshaller()).build();
    ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(old.getName())
        .setSchemaDescriptor(old.getSchemaDescriptor());
    for (MethodDescriptor<?, ?> m : old.getMethods()) {
      descriptor.addMethod(m.getFullMethodName().equals(method.getFullMethodName()) ? aliasing : m);
    }
    ServerServiceDefinition.Builder rebound = ServerServiceDefinition.builder(descriptor.build());
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      if (m.getMethodDescriptor().getFullMethodName().equals(method.getFullMethodName())) {
        @SuppressWarnings("unchecked")
        ServerMethodDefinition<ReqT, RespT> typed = (ServerMethodDefinition<ReqT, RespT>) m;
        rebound.addMethod(ServerMethodDefinition.create(aliasing, typed.getServerCallHandler()));
      } else {
        rebound.addMethod(m);
      }
    }
    return rebound.build();
  }

  /** Gives the buffers {@code message} aliases back to gRPC; safe to call for any message. */
  void release(T message) {
    InputStream stream = held.remove(message);
    if (stream != null) {
      try {
        stream.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @Override
  public Class<T> getMessageClass() {
    return plain.getMessageClass();
  }

  @Override
  public T getMessagePrototype() {
    return plain.getMessagePrototype();
  }

  @Override
  public InputStream stream(T value) {
    return plain.stream(value);
  }

  @Override
  public T parse(InputStream stream) {
    if (!(stream instanceof KnownLength && stream instanceof Detachable
        && stream instanceof HasByteBuffer && ((HasByteBuffer) stream).byteBufferSupported())) {
      return plain.parse(stream);
    }
    InputStream detached = ((Detachable) stream).detach();
    boolean kept = false;
    try {
      int size = detached.available();
      detached.mark(size);
      List<ByteString> pieces = new ArrayList<>();
      while (detached.available() > 0) {
        ByteBuffer b = ((HasByteBuffer) detached).getByteBuffer();
        pieces.add(UnsafeByteOperations.unsafeWrap(b));
        detached.skip(b.remaining());
      }
      detached.reset();
      CodedInputStream in = ByteString.copyFrom(pieces).newCodedInput();
      in.enableAliasing(true);
      in.setSizeLimit(Integer.MAX_VALUE);
      T message = parser.parseFrom(in);
      in.checkLastTagWas(0);
      held.put(message, detached);
      kept = true;
      return message;
    } catch (InvalidProtocolBufferException e) {
      throw Status.INTERNAL.withDescription("invalid protobuf byte sequence").withCause(e)
          .asRuntimeException();
    } catch (IOException e) {
      throw Status.INTERNAL.withDescription("could not read the message").withCause(e)
          .asRuntimeException();
    } finally {
      if (!kept) {
        try {
          detached.close();
        } catch (IOException e) {
          // Already failing.
        }
      }
    }
  }
}
