package dev.cryo.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.cryo.api.v1.GetImageInfoRequest;
import dev.cryo.api.v1.GetImageInfoResponse;
import dev.cryo.api.v1.GetManagedSaveRequest;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.ImageTrailer;
import dev.cryo.api.v1.RemoveManagedSaveRequest;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
import dev.cryo.api.v1.RestoreStart;
import dev.cryo.api.v1.SaveDomainRequest;
import dev.cryo.api.v1.SaveDomainResponse;
import dev.cryo.api.v1.UpdateImageXmlRequest;
import io.grpc.Context;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** {@link Images} over cryo.v1.ImageService, with manual flow control on both image streams. */
final class ImagesImpl implements Images {
  /** Image bytes per message sent: the server's own chunk size (its StreamGate.CHUNK_BYTES). */
  static final int CHUNK_BYTES = 256 << 10;

  private final ImageServiceGrpc.ImageServiceBlockingStub blocking;
  private final ImageServiceGrpc.ImageServiceStub async;
  private final Domains domains;
  private final Duration deadline;

  ImagesImpl(io.grpc.Channel channel, Duration deadline, Domains domains) {
    this.blocking = ImageServiceGrpc.newBlockingStub(channel);
    // Image chunks are 256 KiB: let 16 queue in the transport before the sender waits.
    this.async = ImageServiceGrpc.newStub(channel).withOnReadyThreshold(16 * CHUNK_BYTES);
    this.domains = domains;
    this.deadline = deadline;
  }

  private ImageServiceGrpc.ImageServiceBlockingStub stub() {
    return blocking.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  // ---- save --------------------------------------------------------------------------------

  @Override
  public SaveSummary saveToServer(String name, String serverPath, SaveOptions options) {
    return save(request(name, options).setPath(serverPath).build(), null, options);
  }

  @Override
  public SaveSummary saveManaged(String name, SaveOptions options) {
    return save(request(name, options).setManagedSave(true).build(), null, options);
  }

  @Override
  public SaveSummary save(String name, OutputStream out, SaveOptions options) {
    return save(request(name, options).setStream(true).build(), chunk -> {
      try {
        chunk.writeTo(out);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, options);
  }

  @Override
  public SaveSummary save(String name, Path localFile, SaveOptions options) {
    Path dir = localFile.toAbsolutePath().getParent();
    Path temp = dir.resolve("." + localFile.getFileName() + ".part");
    try {
      SaveSummary s;
      try (OutputStream out = Files.newOutputStream(temp)) {
        s = save(name, out, options);
      }
      writeImageXml(temp, s.imageXml());
      Files.move(temp, localFile, StandardCopyOption.ATOMIC_MOVE,
          StandardCopyOption.REPLACE_EXISTING);
      return s;
    } catch (IOException e) {
      throw new CryoException(CryoException.ErrorCode.UNKNOWN, "could not write " + localFile
          + ": " + e.getMessage(), e);
    } finally {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException e) {
        // Best effort.
      }
    }
  }

  private static SaveDomainRequest.Builder request(String name, SaveOptions o) {
    return SaveDomainRequest.newBuilder()
        .setName(name)
        .setCompression(dev.cryo.api.v1.Compression.valueOf("COMPRESSION_"
            + o.compression().name()))
        .setCompressionLevel(o.level())
        .setAfter(dev.cryo.api.v1.AfterSave.valueOf("AFTER_SAVE_" + o.after().name()))
        .setLive(o.live());
  }

  private interface ChunkSink {
    void accept(ByteString chunk);
  }

  private static final Object END = new Object();

  private record Failure(Throwable t) {}

  /**
   * Runs a SaveDomain call: messages are taken one at a time ({@code request(1)} after each is
   * handled on this thread), so a slow sink slows the server instead of filling memory.
   */
  private SaveSummary save(SaveDomainRequest req, ChunkSink sink, SaveOptions options) {
    BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    CompletableFuture<ClientCallStreamObserver<SaveDomainRequest>> call =
        new CompletableFuture<>();
    Context.CancellableContext ctx = Context.current().withCancellation();
    Runnable cancel = () -> ctx.cancel(new CryoException(CryoException.ErrorCode.CANCELLED,
        "cancelled by the caller", null));
    if (options.cancellation() != null) {
      options.cancellation().onCancel(cancel);
    }
    try {
      ctx.run(() -> async.saveDomain(req,
          new ClientResponseObserver<SaveDomainRequest, SaveDomainResponse>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<SaveDomainRequest> rs) {
              // A few chunks ahead: the transport fills the inbox while the sink writes.
              rs.disableAutoRequestWithInitial(16);
              call.complete(rs);
            }

            @Override
            public void onNext(SaveDomainResponse value) {
              inbox.add(value);
            }

            @Override
            public void onError(Throwable t) {
              inbox.add(new Failure(t));
            }

            @Override
            public void onCompleted() {
              inbox.add(END);
            }
          }));
      ClientCallStreamObserver<SaveDomainRequest> rs = call.join();
      SaveSummary summary = null;
      while (true) {
        Object next = inbox.take();
        if (next == END) {
          if (summary == null) {
            throw new CryoException(CryoException.ErrorCode.INTERNAL,
                "the save ended without a summary", null);
          }
          return summary;
        }
        if (next instanceof Failure f) {
          if (options.cancellation() != null && options.cancellation().isCancelled()) {
            throw new CryoException(CryoException.ErrorCode.CANCELLED, "cancelled by the caller",
                f.t());
          }
          throw CryoException.from(f.t());
        }
        SaveDomainResponse resp = (SaveDomainResponse) next;
        switch (resp.getEventCase()) {
          case CHUNK -> {
            if (sink == null) {
              throw new CryoException(CryoException.ErrorCode.INTERNAL,
                  "the server sent image bytes for a save to a server file", null);
            }
            sink.accept(resp.getChunk());
          }
          case PROGRESS -> {
            if (options.progress() != null) {
              var p = resp.getProgress();
              options.progress().accept(new SaveProgress(
                  p.getPhase().name().replace("SAVE_PHASE_", ""), p.getProcessedBytes(),
                  p.getEstimatedTotalBytes(), p.getRateBytesPerSecond()));
            }
          }
          case SUMMARY -> summary = fromProto(resp.getSummary());
          default -> { }
        }
        rs.request(1);
      }
    } catch (InterruptedException e) {
      cancel.run();
      throw CryoException.from(e);
    } catch (RuntimeException e) {
      // The sink failed (e.g. the target of a transfer): stop the save, the guest carries on.
      cancel.run();
      throw e instanceof CryoException ce ? ce : CryoException.from(e);
    } finally {
      if (options.cancellation() != null) {
        options.cancellation().remove(cancel);
      }
      ctx.cancel(null);
    }
  }

  private static SaveSummary fromProto(dev.cryo.api.v1.SaveSummary s) {
    return new SaveSummary(s.getImageBytes(), s.getPayloadBytes(), s.getMigrationBytes(),
        s.getSha256(), duration(s.getDuration()), duration(s.getDowntime()),
        s.getPath().isEmpty() ? null : s.getPath(), DomainsImpl.fromProto(s.getDomain()),
        s.getImageXml());
  }

  private static Duration duration(com.google.protobuf.Duration d) {
    return Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  /** Bytes before the XML area in a save image; its data_len is at 20, cookieOffset at 32. */
  private static final int HEADER_BYTES = 92;

  /**
   * Writes the image's XML with its digest over the XML area of a saved stream, NUL-terminated
   * and zero-filled, as the server does for its own files: the file then verifies itself when
   * restored. A file without room for it (or with a libvirt cookie) is left as it is.
   */
  private static void writeImageXml(Path file, String imageXml) throws IOException {
    if (imageXml.isEmpty()) {
      return;
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      ByteBuffer head = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      while (head.hasRemaining() && ch.read(head, head.position()) > 0) {
        // Fill the header.
      }
      byte[] text = imageXml.getBytes(StandardCharsets.UTF_8);
      int dataLen = head.getInt(20);
      if (head.hasRemaining() || head.getInt(32) != 0 || text.length >= dataLen) {
        return;
      }
      ByteBuffer area = ByteBuffer.allocate(dataLen).put(text).rewind();
      while (area.hasRemaining()) {
        ch.write(area, HEADER_BYTES + area.position());
      }
    }
  }

  // ---- restore -----------------------------------------------------------------------------

  @Override
  public Restored restore(InputStream image, String sha256, long payloadBytes,
      RestoreOptions options) {
    Upload up = new Upload(options);
    try {
      while (true) {
        // A fresh array each time, handed to gRPC without a copy.
        byte[] buf = new byte[CHUNK_BYTES];
        int n = image.readNBytes(buf, 0, buf.length);
        if (n <= 0) {
          break;
        }
        up.chunk(UnsafeByteOperations.unsafeWrap(buf, 0, n));
      }
    } catch (IOException e) {
      up.abort(e);
      throw new CryoException(CryoException.ErrorCode.UNKNOWN, "could not read the image: "
          + e.getMessage(), e);
    } catch (RuntimeException e) {
      up.abort(e);
      throw e;
    }
    return up.finish(sha256, payloadBytes);
  }

  @Override
  public Restored restore(Path localFile, RestoreOptions options) {
    try (InputStream in = Files.newInputStream(localFile)) {
      return restore(in, null, 0, options);
    } catch (IOException e) {
      throw new CryoException(CryoException.ErrorCode.NOT_FOUND, "could not read " + localFile
          + ": " + e.getMessage(), e);
    }
  }

  @Override
  public Restored restoreFromServer(String serverPath, RestoreOptions options) {
    return new Upload(options, dev.cryo.api.v1.RestoreOptions.newBuilder().setPath(serverPath))
        .finish(null, 0);
  }

  @Override
  public Restored restoreManaged(String name, RestoreOptions options) {
    return new Upload(options, dev.cryo.api.v1.RestoreOptions.newBuilder()
        .setManagedSaveName(name)).finish(null, 0);
  }

  @Override
  public Transferred transfer(String name, SaveOptions save, Images target,
      RestoreOptions restore) {
    if (!(target instanceof ImagesImpl other)) {
      throw new IllegalArgumentException("target must come from a CryoClient");
    }
    Domain before = domains.get(name);
    // Keep the source paused, not stopped, until the target has the guest running: a failed
    // restore must not lose it.
    SaveOptions pausedSave = save.after(AfterSave.PAUSED);
    Upload up = other.new Upload(restore);
    SaveSummary summary;
    long started = System.nanoTime();
    try {
      summary = save(request(name, pausedSave).setStream(true).build(), up::chunk, pausedSave);
    } catch (RuntimeException e) {
      up.abort(e);
      throw e;
    }
    Restored restored;
    try {
      restored = up.finish(summary.sha256(), summary.payloadBytes());
    } catch (RuntimeException e) {
      if (before.state() == DomainState.RUNNING) {
        domains.resume(name);
      }
      throw e;
    }
    switch (save.after()) {
      case STOP -> domains.destroy(name);
      case CONTINUE -> {
        if (before.state() == DomainState.RUNNING) {
          domains.resume(name);
        }
      }
      case PAUSED -> { }
      default -> throw new AssertionError(save.after());
    }
    // The source paused (summary.downtime() before the save ended; at once unless live) and
    // the guest ran again when the restore returned.
    Duration elapsed = Duration.ofNanos(System.nanoTime() - started);
    Duration beforePause = summary.duration().minus(summary.downtime());
    Duration downtime = elapsed.minus(beforePause.isNegative() ? Duration.ZERO : beforePause);
    return new Transferred(summary, restored, downtime.isNegative() ? elapsed : downtime);
  }

  /** One RestoreDomain call; chunks are sent only while the call is ready. */
  private final class Upload {
    private final CompletableFuture<RestoreDomainResponse> result = new CompletableFuture<>();
    private final ClientCallStreamObserver<RestoreDomainRequest> rs;
    private final Object ready = new Object();
    private final Context.CancellableContext ctx = Context.current().withCancellation();
    private final RestoreOptions options;
    private final Runnable cancel;

    Upload(RestoreOptions options) {
      this(options, dev.cryo.api.v1.RestoreOptions.newBuilder().setStream(true));
    }

    Upload(RestoreOptions options, dev.cryo.api.v1.RestoreOptions.Builder source) {
      this.options = options;
      this.cancel = () -> ctx.cancel(new CryoException(CryoException.ErrorCode.CANCELLED,
          "cancelled by the caller", null));
      CompletableFuture<ClientCallStreamObserver<RestoreDomainRequest>> call =
          new CompletableFuture<>();
      ctx.run(() -> {
        StreamObserverHolder.start(async, call, result, ready);
      });
      rs = call.join();
      if (options.cancellation() != null) {
        options.cancellation().onCancel(cancel);
      }
      if (options.start() != null) {
        source.setStart(options.start() == DomainState.RUNNING
            ? RestoreStart.RESTORE_START_RUNNING : RestoreStart.RESTORE_START_PAUSED);
      }
      if (options.replacementXml() != null) {
        source.setReplacementXml(options.replacementXml());
      }
      source.setRequireVerified(options.requireVerified());
      send(RestoreDomainRequest.newBuilder().setOptions(source).build());
    }

    void chunk(ByteString bytes) {
      send(RestoreDomainRequest.newBuilder().setChunk(bytes).build());
    }

    private void send(RestoreDomainRequest req) {
      synchronized (ready) {
        while (!rs.isReady() && !result.isDone()) {
          try {
            ready.wait(1000);
          } catch (InterruptedException e) {
            abort(e);
            throw CryoException.from(e);
          }
        }
      }
      if (result.isDone()) {
        // The server ended the call early (a bad image): report its reason.
        throw failure();
      }
      rs.onNext(req);
    }

    Restored finish(String sha256, long payloadBytes) {
      try {
        if (sha256 != null && !sha256.isEmpty()) {
          send(RestoreDomainRequest.newBuilder().setTrailer(ImageTrailer.newBuilder()
              .setSha256(sha256).setPayloadBytes(payloadBytes)).build());
        }
        rs.onCompleted();
        RestoreDomainResponse r = result.get();
        return new Restored(DomainsImpl.fromProto(r.getDomain()), r.getWarningsList(),
            r.getVerified(), r.getPayloadBytes(), duration(r.getDuration()));
      } catch (InterruptedException e) {
        abort(e);
        throw CryoException.from(e);
      } catch (ExecutionException e) {
        throw failure();
      } finally {
        done();
      }
    }

    private CryoException failure() {
      try {
        result.getNow(null);
        return new CryoException(CryoException.ErrorCode.INTERNAL, "the server ended the "
            + "restore early without an error", null);
      } catch (java.util.concurrent.CompletionException e) {
        if (options.cancellation() != null && options.cancellation().isCancelled()) {
          return new CryoException(CryoException.ErrorCode.CANCELLED, "cancelled by the caller",
              e.getCause());
        }
        return CryoException.from(e.getCause());
      }
    }

    void abort(Throwable why) {
      rs.cancel("the client aborted the restore: " + why.getMessage(), why);
      done();
    }

    private void done() {
      if (options.cancellation() != null) {
        options.cancellation().remove(cancel);
      }
      ctx.cancel(null);
    }
  }

  /** Starts a RestoreDomain call whose readiness wakes {@code ready}'s waiters. */
  private static final class StreamObserverHolder {
    static void start(ImageServiceGrpc.ImageServiceStub async,
        CompletableFuture<ClientCallStreamObserver<RestoreDomainRequest>> call,
        CompletableFuture<RestoreDomainResponse> result, Object ready) {
      async.restoreDomain(new ClientResponseObserver<RestoreDomainRequest, RestoreDomainResponse>() {
        @Override
        public void beforeStart(ClientCallStreamObserver<RestoreDomainRequest> rs) {
          rs.disableAutoRequestWithInitial(1);
          rs.setOnReadyHandler(() -> {
            synchronized (ready) {
              ready.notifyAll();
            }
          });
          call.complete(rs);
        }

        @Override
        public void onNext(RestoreDomainResponse value) {
          result.complete(value);
        }

        @Override
        public void onError(Throwable t) {
          result.completeExceptionally(t);
          synchronized (ready) {
            ready.notifyAll();
          }
        }

        @Override
        public void onCompleted() {
          synchronized (ready) {
            ready.notifyAll();
          }
        }
      });
    }
  }

  // ---- facts -------------------------------------------------------------------------------

  @Override
  public ImageInfo info(String serverPath) {
    return fromProto(DomainsImpl.call(() -> stub().getImageInfo(
        GetImageInfoRequest.newBuilder().setPath(serverPath).build())));
  }

  @Override
  public ImageInfo infoOfHead(byte[] head) {
    return fromProto(DomainsImpl.call(() -> stub().getImageInfo(
        GetImageInfoRequest.newBuilder().setHead(ByteString.copyFrom(head)).build())));
  }

  private static ImageInfo fromProto(GetImageInfoResponse r) {
    return new ImageInfo(r.getXml(), r.getWasRunning(),
        r.getCompression() == dev.cryo.api.v1.Compression.COMPRESSION_UNSPECIFIED
            ? ImageCompression.RAW
            : ImageCompression.valueOf(r.getCompression().name().replace("COMPRESSION_", "")),
        r.getPayloadOffset(), r.getPayloadBytes(), r.getSha256(), r.getLibvirtCompatible(),
        r.getVerifiable());
  }

  @Override
  public String updateXml(String serverPath, String xml) {
    return DomainsImpl.call(() -> stub().updateImageXml(UpdateImageXmlRequest.newBuilder()
        .setPath(serverPath).setXml(xml).build())).getXml();
  }

  @Override
  public boolean hasManagedSave(String name) {
    return DomainsImpl.call(() -> stub().getManagedSave(
        GetManagedSaveRequest.newBuilder().setName(name).build())).getExists();
  }

  @Override
  public void removeManagedSave(String name) {
    DomainsImpl.call(() -> stub().removeManagedSave(
        RemoveManagedSaveRequest.newBuilder().setName(name).build()));
  }
}
