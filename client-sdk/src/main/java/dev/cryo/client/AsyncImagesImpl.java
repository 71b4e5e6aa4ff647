package dev.cryo.client;

import static dev.cryo.client.FutureCalls.unary;

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
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * {@link AsyncImages} over cryo.v1.ImageService, with manual flow control on both image streams:
 * a save asks for the next message only when its sink has taken the last chunk, an upload sends
 * only while the call is ready. {@link ImagesImpl} runs the same operations with its caller's
 * thread as their executor ({@link CallingThreadExecutor}).
 */
final class AsyncImagesImpl implements AsyncImages {
  /** Image bytes per message sent: the server's own chunk size (its StreamGate.CHUNK_BYTES). */
  static final int CHUNK_BYTES = 256 << 10;
  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

  private final ImageServiceGrpc.ImageServiceStub stub;
  private final AsyncDomains domains;
  private final Duration deadline;
  /** Runs local I/O for asynchronous callers; the client owns it. */
  private final Executor io;

  AsyncImagesImpl(io.grpc.Channel channel, Duration deadline, AsyncDomains domains, Executor io) {
    // Image chunks are 256 KiB: let a few queue in the transport before the sender waits.
    this.stub = ImageServiceGrpc.newStub(channel).withOnReadyThreshold(16 * CHUNK_BYTES);
    this.domains = domains;
    this.deadline = deadline;
    this.io = io;
  }

  private ImageServiceGrpc.ImageServiceStub unaryStub() {
    return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  // ---- save --------------------------------------------------------------------------------

  @Override
  public Operation<SaveSummary> saveToServer(String name, String serverPath, SaveOptions options) {
    return save(request(name, options).setPath(serverPath).build(), null, options);
  }

  @Override
  public Operation<SaveSummary> saveManaged(String name, SaveOptions options) {
    return save(request(name, options).setManagedSave(true).build(), null, options);
  }

  @Override
  public Operation<SaveSummary> save(String name, OutputStream out, SaveOptions options) {
    return save(name, out, options, io);
  }

  RunningOperation<SaveSummary> save(String name, OutputStream out, SaveOptions options,
      Executor exec) {
    return save(request(name, options).setStream(true).build(),
        chunk -> CompletableFuture.runAsync(() -> {
          try {
            chunk.writeTo(out);
          } catch (IOException e) {
            throw new CompletionException(new CryoException(CryoException.ErrorCode.UNKNOWN,
                "could not write the image: " + e.getMessage(), e));
          }
        }, exec), options);
  }

  @Override
  public Operation<SaveSummary> save(String name, Path localFile, SaveOptions options) {
    return save(name, localFile, options, io);
  }

  RunningOperation<SaveSummary> save(String name, Path localFile, SaveOptions options,
      Executor exec) {
    FileSink sink;
    try {
      sink = new FileSink(localFile, exec);
    } catch (IOException e) {
      RunningOperation<SaveSummary> failed = new RunningOperation<>();
      failed.fail(new CryoException(CryoException.ErrorCode.UNKNOWN, "could not write "
          + localFile + ": " + e.getMessage(), e));
      return failed;
    }
    RunningOperation<SaveSummary> op = save(request(name, options).setStream(true).build(), sink,
        options);
    op.result().whenComplete((summary, failure) -> {
      if (failure != null) {
        sink.abandon();
      }
    });
    return op;
  }

  static SaveDomainRequest.Builder request(String name, SaveOptions o) {
    return SaveDomainRequest.newBuilder()
        .setName(name)
        .setCompression(dev.cryo.api.v1.Compression.valueOf("COMPRESSION_"
            + o.compression().name()))
        .setCompressionLevel(o.level())
        .setAfter(dev.cryo.api.v1.AfterSave.valueOf("AFTER_SAVE_" + o.after().name()))
        .setLive(o.live());
  }

  /** Where a streamed save's bytes go. */
  interface ImageSink {
    /** Takes one chunk; completes once it is written (or handed on) and the next may come. */
    CompletableFuture<Void> write(ByteString chunk);

    /** After the last chunk: completes the image, e.g. renames a file into place. */
    default CompletableFuture<SaveSummary> finish(SaveSummary summary) {
      return CompletableFuture.completedFuture(summary);
    }
  }

  /** Runs one SaveDomain call; {@code sink} is null for a save into a server file. */
  RunningOperation<SaveSummary> save(SaveDomainRequest req, ImageSink sink, SaveOptions options) {
    RunningOperation<SaveSummary> op = new RunningOperation<>(options.cancellation());
    op.start(() -> stub.saveDomain(req, new SaveObserver(op, sink, options)));
    return op;
  }

  /**
   * Takes a save's messages: {@code request(1)} after each is handled, a chunk only once the sink
   * has it, so a slow sink slows the server instead of filling memory.
   */
  private static final class SaveObserver
      implements ClientResponseObserver<SaveDomainRequest, SaveDomainResponse> {
    private final RunningOperation<SaveSummary> op;
    private final ImageSink sink;
    private final SaveOptions options;
    private ClientCallStreamObserver<SaveDomainRequest> call;
    /** The sink's writes in order; touched only in gRPC's callbacks, which never overlap. */
    private CompletableFuture<Void> written = DONE;
    private SaveSummary summary;

    SaveObserver(RunningOperation<SaveSummary> op, ImageSink sink, SaveOptions options) {
      this.op = op;
      this.sink = sink;
      this.options = options;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<SaveDomainRequest> rs) {
      // A few chunks ahead: the transport fills in while the sink writes.
      rs.disableAutoRequestWithInitial(16);
      call = rs;
    }

    @Override
    public void onNext(SaveDomainResponse resp) {
      switch (resp.getEventCase()) {
        case CHUNK -> {
          if (sink == null) {
            op.fail(new CryoException(CryoException.ErrorCode.INTERNAL,
                "the server sent image bytes for a save to a server file", null));
            return;
          }
          ByteString chunk = resp.getChunk();
          written = written.thenCompose(v -> op.result().isDone() ? DONE : sink.write(chunk))
              .whenComplete((v, failure) -> {
                if (failure != null) {
                  // The sink failed (a full disk, the target of a transfer): stop the save, the
                  // guest carries on.
                  op.fail(failure);
                } else {
                  call.request(1);
                }
              });
          return;
        }
        case PROGRESS -> {
          var p = resp.getProgress();
          SaveProgress progress = new SaveProgress(p.getPhase().name().replace("SAVE_PHASE_", ""),
              p.getProcessedBytes(), p.getEstimatedTotalBytes(), p.getRateBytesPerSecond());
          op.report(new Progress(progress.phase(), progress.processedBytes(),
              progress.estimatedTotalBytes()));
          if (options.progress() != null) {
            options.progress().accept(progress);
          }
        }
        case SUMMARY -> summary = fromProto(resp.getSummary());
        default -> { }
      }
      call.request(1);
    }

    @Override
    public void onError(Throwable t) {
      op.fail(t);
    }

    @Override
    public void onCompleted() {
      SaveSummary s = summary;
      written.thenCompose(v -> {
        if (s == null) {
          throw new CompletionException(new CryoException(CryoException.ErrorCode.INTERNAL,
              "the save ended without a summary", null));
        }
        return sink == null ? CompletableFuture.completedFuture(s) : sink.finish(s);
      }).whenComplete(op::settle);
    }
  }

  /**
   * A local file written under a temporary name and renamed into place at the end; {@link
   * #abandon} removes whatever a failed or cancelled save left.
   */
  private static final class FileSink implements ImageSink {
    private final Path file;
    private final Path temp;
    private final OutputStream out;
    private final Executor exec;
    /** Guarded by {@code this}. */
    private boolean abandoned;
    private boolean renamed;

    FileSink(Path file, Executor exec) throws IOException {
      this.file = file;
      this.temp = file.toAbsolutePath().getParent().resolve("." + file.getFileName() + ".part");
      this.out = Files.newOutputStream(temp);
      this.exec = exec;
    }

    @Override
    public CompletableFuture<Void> write(ByteString chunk) {
      return CompletableFuture.runAsync(() -> {
        try {
          chunk.writeTo(out);
        } catch (IOException e) {
          throw failure(e);
        }
      }, exec);
    }

    @Override
    public CompletableFuture<SaveSummary> finish(SaveSummary summary) {
      return CompletableFuture.supplyAsync(() -> {
        try {
          out.close();
          writeImageXml(temp, summary.imageXml());
          synchronized (this) {
            if (abandoned) {
              throw new CompletionException(new CryoException(CryoException.ErrorCode.CANCELLED,
                  "cancelled by the caller", null));
            }
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
            renamed = true;
          }
          return summary;
        } catch (IOException e) {
          throw failure(e);
        }
      }, exec);
    }

    private CompletionException failure(IOException e) {
      return new CompletionException(new CryoException(CryoException.ErrorCode.UNKNOWN,
          "could not write " + file + ": " + e.getMessage(), e));
    }

    /** Closes and deletes the partial file; the whole one too if it was renamed meanwhile. */
    synchronized void abandon() {
      abandoned = true;
      try {
        out.close();
      } catch (IOException e) {
        // Deleted next.
      }
      try {
        Files.deleteIfExists(temp);
        if (renamed) {
          Files.deleteIfExists(file);
        }
      } catch (IOException e) {
        // Best effort: the save has failed already.
      }
    }
  }

  static SaveSummary fromProto(dev.cryo.api.v1.SaveSummary s) {
    return new SaveSummary(s.getImageBytes(), s.getPayloadBytes(), s.getMigrationBytes(),
        s.getSha256(), duration(s.getDuration()), duration(s.getDowntime()),
        s.getPath().isEmpty() ? null : s.getPath(), DomainsImpl.fromProto(s.getDomain()),
        s.getImageXml());
  }

  static Duration duration(com.google.protobuf.Duration d) {
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
  public Operation<Restored> restore(InputStream image, String sha256, long payloadBytes,
      RestoreOptions options) {
    return restore(image, sha256, payloadBytes, 0, options, io);
  }

  /** @param totalBytes the image's size for progress reports, 0 if not known */
  RunningOperation<Restored> restore(InputStream image, String sha256, long payloadBytes,
      long totalBytes, RestoreOptions options, Executor exec) {
    Upload up = new Upload(options, streamSource(), totalBytes);
    exec.execute(() -> pump(up, image, sha256, payloadBytes, exec));
    return up.op;
  }

  @Override
  public Operation<Restored> restore(Path localFile, RestoreOptions options) {
    return restore(localFile, options, io);
  }

  RunningOperation<Restored> restore(Path localFile, RestoreOptions options, Executor exec) {
    InputStream in;
    long size;
    try {
      in = Files.newInputStream(localFile);
      size = Files.size(localFile);
    } catch (IOException e) {
      RunningOperation<Restored> failed = new RunningOperation<>();
      failed.fail(new CryoException(CryoException.ErrorCode.NOT_FOUND, "could not read "
          + localFile + ": " + e.getMessage(), e));
      return failed;
    }
    RunningOperation<Restored> op = restore(in, null, 0, size, options, exec);
    op.result().whenComplete((r, failure) -> {
      try {
        in.close();
      } catch (IOException e) {
        // Only read from.
      }
    });
    return op;
  }

  @Override
  public Operation<Restored> restoreFromServer(String serverPath, RestoreOptions options) {
    Upload up = new Upload(options, dev.cryo.api.v1.RestoreOptions.newBuilder()
        .setPath(serverPath), 0);
    up.finish(null, 0);
    return up.op;
  }

  @Override
  public Operation<Restored> restoreManaged(String name, RestoreOptions options) {
    Upload up = new Upload(options, dev.cryo.api.v1.RestoreOptions.newBuilder()
        .setManagedSaveName(name), 0);
    up.op.followJob(domains, name);
    up.finish(null, 0);
    return up.op;
  }

  private static dev.cryo.api.v1.RestoreOptions.Builder streamSource() {
    return dev.cryo.api.v1.RestoreOptions.newBuilder().setStream(true);
  }

  /**
   * Reads {@code in} chunk by chunk on {@code exec} and sends each as the call can take it; when
   * the call is not ready it returns, and the send's completion schedules it again. No thread
   * waits for the network.
   */
  private static void pump(Upload up, InputStream in, String sha256, long payloadBytes,
      Executor exec) {
    try {
      while (!up.op.result().isDone()) {
        // A fresh array each time, handed to gRPC without a copy.
        byte[] buf = new byte[CHUNK_BYTES];
        int n = in.readNBytes(buf, 0, buf.length);
        if (n <= 0) {
          up.finish(sha256, payloadBytes);
          return;
        }
        CompletableFuture<Void> sent = up.chunk(UnsafeByteOperations.unsafeWrap(buf, 0, n));
        if (!sent.isDone()) {
          sent.thenRun(() -> exec.execute(() -> pump(up, in, sha256, payloadBytes, exec)));
          return;
        }
      }
    } catch (IOException e) {
      up.op.fail(new CryoException(CryoException.ErrorCode.UNKNOWN, "could not read the image: "
          + e.getMessage(), e));
    } catch (RuntimeException e) {
      up.op.fail(e);
    }
  }

  /**
   * One RestoreDomain call: its options first, then chunks, each sent once the call is ready.
   * Its operation completes with the server's answer.
   */
  final class Upload implements ClientResponseObserver<RestoreDomainRequest,
      RestoreDomainResponse> {
    final RunningOperation<Restored> op;
    private final long totalBytes;
    private ClientCallStreamObserver<RestoreDomainRequest> call;
    /** Set in onNext, read in onCompleted; gRPC callbacks never overlap. */
    private RestoreDomainResponse answer;
    /** Completed when the call becomes ready or ends. Guarded by {@code this}. */
    private CompletableFuture<Void> ready;
    /** The last message's send; the next waits for it. Guarded by {@code this}. */
    private CompletableFuture<Void> sent = DONE;
    /** Only the one sender at a time touches it. */
    private long sentBytes;

    Upload(RestoreOptions options, dev.cryo.api.v1.RestoreOptions.Builder source,
        long totalBytes) {
      this.op = new RunningOperation<>(options.cancellation());
      this.totalBytes = totalBytes;
      if (options.start() != null) {
        source.setStart(options.start() == DomainState.RUNNING
            ? RestoreStart.RESTORE_START_RUNNING : RestoreStart.RESTORE_START_PAUSED);
      }
      if (options.replacementXml() != null) {
        source.setReplacementXml(options.replacementXml());
      }
      source.setRequireVerified(options.requireVerified());
      op.start(() -> stub.restoreDomain(this));
      send(RestoreDomainRequest.newBuilder().setOptions(source).build());
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<RestoreDomainRequest> rs) {
      rs.disableAutoRequestWithInitial(1);
      rs.setOnReadyHandler(this::wake);
      call = rs;
    }

    @Override
    public void onNext(RestoreDomainResponse value) {
      answer = value;
    }

    @Override
    public void onError(Throwable t) {
      op.fail(t);
      wake();
    }

    @Override
    public void onCompleted() {
      RestoreDomainResponse r = answer;
      if (r == null) {
        op.fail(new CryoException(CryoException.ErrorCode.INTERNAL,
            "the server ended the restore without an answer", null));
      } else {
        op.complete(new Restored(DomainsImpl.fromProto(r.getDomain()), r.getWarningsList(),
            r.getVerified(), r.getPayloadBytes(), duration(r.getDuration())));
      }
      wake();
    }

    private void wake() {
      CompletableFuture<Void> waiter;
      synchronized (this) {
        waiter = ready;
        ready = null;
      }
      if (waiter != null) {
        waiter.complete(null);
      }
    }

    CompletableFuture<Void> chunk(ByteString bytes) {
      sentBytes += bytes.size();
      op.report(new Progress("TRANSFER", sentBytes, totalBytes));
      return send(RestoreDomainRequest.newBuilder().setChunk(bytes).build());
    }

    /**
     * Sends {@code req} after the messages before it, each as soon as the call is ready;
     * completes when sent, or exceptionally with the call's failure (the server ended it early:
     * a bad image). The options go first even when the first chunk is ready before the call is.
     */
    private synchronized CompletableFuture<Void> send(RestoreDomainRequest req) {
      sent = sent.thenCompose(v -> sendWhenReady(req));
      return sent;
    }

    private CompletableFuture<Void> sendWhenReady(RestoreDomainRequest req) {
      CompletableFuture<Void> waiter;
      synchronized (this) {
        if (op.result().isDone()) {
          return op.result().thenApply(r -> null);
        }
        if (call.isReady()) {
          call.onNext(req);
          return DONE;
        }
        // onReady runs after isReady turns true, so it cannot slip between the check and this.
        waiter = ready = new CompletableFuture<>();
      }
      return waiter.thenCompose(v -> sendWhenReady(req));
    }

    /**
     * After the messages sent so far: sends the trailer if there is a digest, then half-closes;
     * the server's answer then completes {@link #op}.
     */
    synchronized void finish(String sha256, long payloadBytes) {
      if (sha256 != null && !sha256.isEmpty()) {
        send(RestoreDomainRequest.newBuilder().setTrailer(ImageTrailer.newBuilder()
            .setSha256(sha256).setPayloadBytes(payloadBytes)).build());
      }
      sent = sent.thenRun(() -> {
        synchronized (this) {
          if (!op.result().isDone()) {
            call.onCompleted();
          }
        }
      });
    }
  }

  // ---- transfer ----------------------------------------------------------------------------

  @Override
  public Operation<Transferred> transfer(String name, SaveOptions save, Images target,
      RestoreOptions restore) {
    if (!(target instanceof ImagesImpl other)) {
      throw new IllegalArgumentException("target must come from a CryoClient");
    }
    RunningOperation<Transferred> op = new RunningOperation<>(save.cancellation(),
        restore.cancellation());
    domains.get(name).whenComplete((before, failure) -> {
      if (failure != null) {
        op.fail(failure);
      } else {
        transfer(op, before, save, other.async, restore);
      }
    });
    return op;
  }

  private void transfer(RunningOperation<Transferred> op, Domain before, SaveOptions save,
      AsyncImagesImpl target, RestoreOptions restore) {
    String name = before.name();
    // Keep the source paused, not stopped, until the target has the guest running: a failed
    // restore must not lose it. The parts answer to this operation's cancellation only.
    SaveOptions pausedSave = save.after(AfterSave.PAUSED).cancellation(null);
    Upload up = target.new Upload(restore.cancellation(null), streamSource(), 0);
    long started = System.nanoTime();
    RunningOperation<SaveSummary> saving = save(request(name, pausedSave).setStream(true).build(),
        up::chunk, pausedSave);
    saving.onProgress(op::report);
    op.result().whenComplete((t, failure) -> {
      if (failure != null) {
        saving.cancel();
        up.op.cancel();
      }
    });
    saving.result().whenComplete((summary, failure) -> {
      if (failure != null) {
        up.op.cancel();
        op.fail(failure);
        return;
      }
      up.finish(summary.sha256(), summary.payloadBytes());
      up.op.result().whenComplete((restored, restoreFailure) -> {
        boolean wasRunning = before.state() == DomainState.RUNNING;
        if (restoreFailure != null) {
          CompletableFuture<?> back = wasRunning ? domains.resume(name) : DONE;
          back.whenComplete((d, e) -> op.fail(restoreFailure));
          return;
        }
        CompletableFuture<?> after = switch (save.after()) {
          case STOP -> domains.destroy(name);
          case CONTINUE -> wasRunning ? domains.resume(name) : DONE;
          case PAUSED -> DONE;
        };
        after.whenComplete((d, afterFailure) -> {
          if (afterFailure != null) {
            op.fail(afterFailure);
            return;
          }
          // The source paused (summary.downtime() before the save ended; at once unless live)
          // and the guest ran again when the restore returned.
          Duration elapsed = Duration.ofNanos(System.nanoTime() - started);
          Duration beforePause = summary.duration().minus(summary.downtime());
          Duration downtime = elapsed.minus(beforePause.isNegative() ? Duration.ZERO
              : beforePause);
          op.complete(new Transferred(summary, restored, downtime.isNegative() ? elapsed
              : downtime));
        });
      });
    });
  }

  // ---- facts -------------------------------------------------------------------------------

  @Override
  public CompletableFuture<ImageInfo> info(String serverPath) {
    return unary(GetImageInfoRequest.newBuilder().setPath(serverPath).build(),
        unaryStub()::getImageInfo, AsyncImagesImpl::fromProto);
  }

  @Override
  public CompletableFuture<ImageInfo> infoOfHead(byte[] head) {
    return unary(GetImageInfoRequest.newBuilder().setHead(ByteString.copyFrom(head)).build(),
        unaryStub()::getImageInfo, AsyncImagesImpl::fromProto);
  }

  private static ImageInfo fromProto(GetImageInfoResponse r) {
    return new ImageInfo(r.getXml(), r.getWasRunning(),
        r.getCompression() == dev.cryo.api.v1.Compression.COMPRESSION_UNSPECIFIED
            ? ImageCompression.RAW
            : ImageCompression.valueOf(r.getCompression().name().replace("COMPRESSION_", "")),
        r.getPayloadOffset(), r.getPayloadBytes(), r.getSha256(), r.getLibvirtCompatible(),
        r.getVerifiable(), r.getLibvirtRestorableBy());
  }

  @Override
  public CompletableFuture<String> updateXml(String serverPath, String xml) {
    return unary(UpdateImageXmlRequest.newBuilder().setPath(serverPath).setXml(xml).build(),
        unaryStub()::updateImageXml, r -> r.getXml());
  }

  @Override
  public CompletableFuture<Boolean> hasManagedSave(String name) {
    return unary(GetManagedSaveRequest.newBuilder().setName(name).build(),
        unaryStub()::getManagedSave, r -> r.getExists());
  }

  @Override
  public CompletableFuture<Void> removeManagedSave(String name) {
    return unary(RemoveManagedSaveRequest.newBuilder().setName(name).build(),
        unaryStub()::removeManagedSave, r -> null);
  }
}
