package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.cryo.api.v1.GetImageInfoRequest;
import dev.cryo.api.v1.GetImageInfoResponse;
import dev.cryo.api.v1.GetManagedSaveRequest;
import dev.cryo.api.v1.GetManagedSaveResponse;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.ImageVerification;
import dev.cryo.api.v1.RemoveManagedSaveRequest;
import dev.cryo.api.v1.RemoveManagedSaveResponse;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
import dev.cryo.api.v1.RestoreOptions;
import dev.cryo.api.v1.SaveDomainRequest;
import dev.cryo.api.v1.SaveDomainResponse;
import dev.cryo.api.v1.SavePhase;
import dev.cryo.api.v1.SaveProgress;
import dev.cryo.api.v1.SaveSummary;
import dev.cryo.api.v1.UpdateImageXmlRequest;
import dev.cryo.api.v1.UpdateImageXmlResponse;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.image.Compression;
import dev.cryo.server.image.ImageXml;
import dev.cryo.server.image.SaveImageFile;
import dev.cryo.server.image.SaveRestore;
import dev.cryo.server.store.ObjectStore;
import io.grpc.BindableService;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;

/**
 * cryo.v1.ImageService: proto in, {@link SaveRestore} call on the service's own executor, proto
 * out. Image bytes flow through a {@link StreamGate} both ways.
 */
final class ImageGrpcService extends ImageServiceGrpc.ImageServiceImplBase {
  /** Chunks a restore asks for ahead of the one it is reading. */
  private static final int RESTORE_WINDOW = 16;

  private final SaveRestore images;
  private final ExecutorService executor;
  private final StreamLimits limits;
  private final ScheduledExecutorService stallTimer;
  /** Restore chunks alias gRPC's receive buffers until the restore has used them. */
  private final AliasingMarshaller<RestoreDomainRequest> restoreRequests =
      new AliasingMarshaller<>(RestoreDomainRequest.getDefaultInstance());

  ImageGrpcService(SaveRestore images, ExecutorService executor, StreamLimits limits,
      ScheduledExecutorService stallTimer) {
    this.images = images;
    this.executor = executor;
    this.limits = limits;
    this.stallTimer = stallTimer;
  }

  /** This service as gRPC serves it: {@link #bindService()} with aliased restore chunks. */
  BindableService aliasing() {
    return () -> AliasingMarshaller.rebind(bindService(), ImageServiceGrpc.getRestoreDomainMethod(),
        restoreRequests);
  }

  /** {@code StartDomain}: restores a managed save if there is one, as libvirt does. */
  DomainGrpcService.DomainStarter starter() {
    return (caller, name, paused, forceBoot) -> {
      Path managed = images.domains().managedSavePath(caller, name);
      if (Files.exists(managed)) {
        if (forceBoot) {
          images.removeManagedSave(caller, name);
        } else {
          return images.restoreManaged(caller, name, new SaveRestore.RestoreOptions(
              paused ? SaveRestore.Start.PAUSED : SaveRestore.Start.RUNNING, null),
              new SaveRestore.Cancel()).domain();
        }
      }
      return images.domains().start(caller, name, paused);
    };
  }

  // ---- save --------------------------------------------------------------------------------

  @Override
  public void saveDomain(SaveDomainRequest req, StreamObserver<SaveDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    StreamGate<SaveDomainResponse> gate = StreamGate.serverStream(
        (ServerCallStreamObserver<SaveDomainResponse>) out, limits, stallTimer,
        SaveDomainResponse::getSerializedSize, "the save of '" + req.getName() + "'");
    SaveRestore.Cancel cancel = new SaveRestore.Cancel();
    // A cancel, a stall or a failure stops QEMU's migration; the save resumes the guest.
    gate.onStop(why -> cancel.cancel());
    SaveRestore.SaveOptions options = saveOptions(req);
    Path path = switch (req.getDestinationCase()) {
      case PATH -> images.roots().forWriting(req.getPath());
      case MANAGED_SAVE, STREAM, OBJECT_KEY -> null;
      default -> throw new InvalidArgumentException(
          "SaveDomainRequest needs a destination: path, managed_save, stream or object_key");
    };
    ObjectStore.Location object = req.getDestinationCase()
        == SaveDomainRequest.DestinationCase.OBJECT_KEY
        ? images.objects().resolve(req.getObjectKey()) : null;
    // NOT_FOUND now, on the call, rather than after the stream has begun.
    images.domains().get(caller, req.getName());
    SaveRestore.ProgressListener progress = (phase, done, total, rate) ->
        gate.offerIfReady(SaveDomainResponse.newBuilder().setProgress(SaveProgress.newBuilder()
            .setPhase(SavePhase.forNumber(phase.ordinal() + 1))
            .setProcessedBytes(done).setEstimatedTotalBytes(total)
            .setRateBytesPerSecond(rate)).build());
    executor.execute(() -> {
      try {
        SaveRestore.SaveResult result = switch (req.getDestinationCase()) {
          case PATH -> images.saveToFile(caller, req.getName(), path, options, progress, cancel);
          case MANAGED_SAVE -> images.saveManaged(caller, req.getName(), options, progress, cancel);
          case OBJECT_KEY -> images.saveToObject(caller, req.getName(), object, options, progress,
              cancel);
          default -> {
            try (ChunkingOutputStream chunks = new ChunkingOutputStream(gate)) {
              SaveRestore.SaveResult r = images.saveToStream(caller, req.getName(), chunks, options,
                  progress, cancel);
              chunks.flush();
              yield r;
            }
          }
        };
        // Queued, not waited for: the save is done and its thread goes back to the pool.
        SaveSummary summary = object == null ? summary(result)
            : summary(result).toBuilder().setObjectKey(object.uri()).build();
        gate.offer(SaveDomainResponse.newBuilder().setSummary(summary).build());
        gate.complete();
      } catch (Throwable t) {
        gate.fail(t);
      }
    });
  }

  private static SaveRestore.SaveOptions saveOptions(SaveDomainRequest req) {
    if (req.getName().isEmpty()) {
      throw new InvalidArgumentException("SaveDomainRequest.name is required");
    }
    SaveRestore.After after = switch (req.getAfter()) {
      case AFTER_SAVE_UNSPECIFIED, AFTER_SAVE_STOP -> SaveRestore.After.STOP;
      case AFTER_SAVE_CONTINUE -> SaveRestore.After.CONTINUE;
      case AFTER_SAVE_PAUSED -> SaveRestore.After.PAUSED;
      default -> throw new InvalidArgumentException("unknown after value " + req.getAfterValue());
    };
    return new SaveRestore.SaveOptions(fromProto(req.getCompression()),
        req.getCompressionLevel(), after, req.getLive());
  }

  static Compression fromProto(dev.cryo.api.v1.Compression c) {
    return switch (c) {
      case COMPRESSION_UNSPECIFIED, COMPRESSION_RAW -> Compression.RAW;
      case COMPRESSION_GZIP -> Compression.GZIP;
      case COMPRESSION_BZIP2 -> Compression.BZIP2;
      case COMPRESSION_XZ -> Compression.XZ;
      case COMPRESSION_ZSTD -> Compression.ZSTD;
      case COMPRESSION_LZ4 -> Compression.LZ4;
      case COMPRESSION_LZOP -> Compression.LZOP;
      case COMPRESSION_SPARSE -> Compression.SPARSE;
      default -> throw new InvalidArgumentException("unknown compression " + c);
    };
  }

  static dev.cryo.api.v1.Compression toProto(Compression c) {
    return switch (c) {
      case RAW -> dev.cryo.api.v1.Compression.COMPRESSION_RAW;
      case GZIP -> dev.cryo.api.v1.Compression.COMPRESSION_GZIP;
      case BZIP2 -> dev.cryo.api.v1.Compression.COMPRESSION_BZIP2;
      case XZ -> dev.cryo.api.v1.Compression.COMPRESSION_XZ;
      case ZSTD -> dev.cryo.api.v1.Compression.COMPRESSION_ZSTD;
      case LZ4 -> dev.cryo.api.v1.Compression.COMPRESSION_LZ4;
      case LZOP -> dev.cryo.api.v1.Compression.COMPRESSION_LZOP;
      case SPARSE -> dev.cryo.api.v1.Compression.COMPRESSION_SPARSE;
    };
  }

  private static SaveSummary summary(SaveRestore.SaveResult r) {
    SaveSummary.Builder b = SaveSummary.newBuilder()
        .setImageBytes(r.imageBytes())
        .setPayloadBytes(r.payload().storedBytes())
        .setMigrationBytes(r.payload().rawBytes())
        .setSha256(r.payload().sha256())
        .setDuration(toProto(r.duration()))
        .setDowntime(toProto(r.downtime()))
        .setDomain(DomainProtos.toProto(r.domain()))
        .setImageXml(r.imageXml());
    if (r.path() != null) {
      b.setPath(r.path().toString());
    }
    return b.build();
  }

  static com.google.protobuf.Duration toProto(Duration d) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds())
        .setNanos(d.getNano()).build();
  }

  /**
   * Image bytes into {@link StreamGate#CHUNK_BYTES} messages, each sent when the client is ready:
   * a write waits for the client, and throws the gate's error once the call stopped.
   */
  private static final class ChunkingOutputStream extends OutputStream {
    private final StreamGate<SaveDomainResponse> gate;
    private byte[] buf = new byte[StreamGate.CHUNK_BYTES];
    private int used;

    ChunkingOutputStream(StreamGate<SaveDomainResponse> gate) {
      this.gate = gate;
    }

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      while (len > 0) {
        int n = Math.min(len, buf.length - used);
        System.arraycopy(b, off, buf, used, n);
        used += n;
        off += n;
        len -= n;
        if (used == buf.length) {
          flush();
        }
      }
    }

    @Override
    public void flush() {
      if (used > 0) {
        // The array is handed over, not copied: a fresh one takes its place.
        ByteString chunk = UnsafeByteOperations.unsafeWrap(buf, 0, used);
        buf = new byte[StreamGate.CHUNK_BYTES];
        used = 0;
        gate.send(SaveDomainResponse.newBuilder().setChunk(chunk).build());
      }
    }

    @Override
    public void close() {
      // The stream ends with the summary, sent by the caller.
    }
  }

  // ---- restore -----------------------------------------------------------------------------

  @Override
  public StreamObserver<RestoreDomainRequest> restoreDomain(
      StreamObserver<RestoreDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    StreamGate<RestoreDomainResponse> gate = StreamGate.clientStream(
        (ServerCallStreamObserver<RestoreDomainResponse>) out, limits, stallTimer,
        RestoreDomainResponse::getSerializedSize, "the restore");
    SaveRestore.Cancel cancel = new SaveRestore.Cancel();
    ChunkQueueInputStream chunks = new ChunkQueueInputStream(gate, limits.maxImageBytes());
    AtomicReference<ImageXml.Digest> trailer = new AtomicReference<>();
    // A cancel, a stall or a failure stops the restore, which kills its half-restored QEMU.
    gate.onStop(why -> {
      cancel.cancel();
      chunks.fail(why);
    });
    return new StreamObserver<>() {
      /** Only touched on the call's serialized listener thread. */
      private boolean started;
      private boolean streamSource;
      private boolean trailerSeen;

      @Override
      public void onNext(RestoreDomainRequest req) {
        boolean queued = false;
        try {
          if (gate.ended()) {
            return;
          }
          switch (req.getPartCase()) {
            case OPTIONS -> {
              if (started) {
                throw new InvalidArgumentException("RestoreOptions may only come first");
              }
              started = true;
              gate.awaitingClient(false);
              begin(req.getOptions());
            }
            case CHUNK -> {
              requireStream();
              if (trailerSeen) {
                throw new InvalidArgumentException("image chunk after the trailer");
              }
              queued = true;
              chunks.offer(req.getChunk(), () -> restoreRequests.release(req));
            }
            case TRAILER -> {
              requireStream();
              trailerSeen = true;
              trailer.set(new ImageXml.Digest(req.getTrailer().getSha256(),
                  req.getTrailer().getPayloadBytes()));
              gate.request(1);
            }
            default -> throw new InvalidArgumentException("empty RestoreDomainRequest");
          }
        } catch (RuntimeException e) {
          // Ends the call with e's status; the stop actions end the restore, if it began.
          gate.fail(e);
        } finally {
          if (!queued) {
            // Chunks are released by the queue; options and trailer were copied out of theirs.
            restoreRequests.release(req);
          }
        }
      }

      private void requireStream() {
        if (!started) {
          throw new InvalidArgumentException("the first RestoreDomainRequest must hold options");
        }
        if (!streamSource) {
          throw new InvalidArgumentException("image chunks sent, but the options name another "
              + "source; set options.stream to send the image on this call");
        }
      }

      private void begin(RestoreOptions o) {
        SaveRestore.Start start = switch (o.getStart()) {
          case RESTORE_START_UNSPECIFIED -> SaveRestore.Start.AS_SAVED;
          case RESTORE_START_RUNNING -> SaveRestore.Start.RUNNING;
          case RESTORE_START_PAUSED -> SaveRestore.Start.PAUSED;
          default -> throw new InvalidArgumentException("unknown start " + o.getStartValue());
        };
        SaveRestore.RestoreOptions options = new SaveRestore.RestoreOptions(start,
            o.getReplacementXml(), o.getRequireVerified());
        Runnable work = switch (o.getSourceCase()) {
          case STREAM -> {
            streamSource = true;
            gate.request(RESTORE_WINDOW);
            yield () -> finish(images.restoreFromStream(caller, chunks,
                () -> Optional.ofNullable(trailer.get()), options, cancel));
          }
          case PATH -> {
            Path path = images.roots().existing(o.getPath());
            yield () -> finish(images.restoreFromFile(caller, path, options, cancel));
          }
          case MANAGED_SAVE_NAME -> {
            // NOT_FOUND now for a domain the caller does not see, before any work is queued.
            images.domains().managedSavePath(caller, o.getManagedSaveName());
            yield () -> finish(images.restoreManaged(caller, o.getManagedSaveName(), options,
                cancel));
          }
          case OBJECT_KEY -> {
            ObjectStore.Location loc = images.objects().resolve(o.getObjectKey());
            yield () -> finish(images.restoreFromObject(caller, loc, options, cancel));
          }
          default -> throw new InvalidArgumentException(
              "RestoreOptions needs a source: stream, path, managed_save_name or object_key");
        };
        executor.execute(() -> {
          try {
            work.run();
          } catch (Throwable t) {
            gate.fail(t);
          } finally {
            chunks.close();
          }
        });
      }

      private void finish(SaveRestore.RestoreResult r) {
        gate.offer(RestoreDomainResponse.newBuilder()
            .setDomain(DomainProtos.toProto(r.domain()))
            .addAllWarnings(r.warnings())
            .setVerified(r.verified())
            .setVerification(r.verified() ? ImageVerification.IMAGE_VERIFICATION_VERIFIED
                : ImageVerification.IMAGE_VERIFICATION_UNVERIFIED)
            .setPayloadBytes(r.payloadBytes())
            .setDuration(toProto(r.duration()))
            .build());
        gate.complete();
      }

      @Override
      public void onError(Throwable t) {
        // The client cancelled: the gate's cancel handler has stopped the restore.
      }

      @Override
      public void onCompleted() {
        chunks.end();
      }
    };
  }

  // ---- facts and managed save --------------------------------------------------------------

  @Override
  public void getImageInfo(GetImageInfoRequest req, StreamObserver<GetImageInfoResponse> out) {
    Principal caller = CallPrincipal.require();
    SaveImageFile.Info info = switch (req.getSourceCase()) {
      case PATH -> images.info(caller, images.roots().existing(req.getPath()));
      // The caller's own bytes: nothing of anyone else's to reveal.
      case HEAD -> images.info(req.getHead().toByteArray());
      case MANAGED_SAVE_NAME -> images.info(caller, managed(caller, req.getManagedSaveName()));
      case OBJECT_KEY -> images.info(caller, images.objects().resolve(req.getObjectKey()));
      default -> throw new InvalidArgumentException(
          "GetImageInfoRequest needs a source: path, head, managed_save_name or object_key");
    };
    out.onNext(GetImageInfoResponse.newBuilder()
        .setXml(info.xml())
        .setWasRunning(info.wasRunning())
        .setCompression(toProto(info.compression()))
        .setPayloadOffset(info.payloadOffset())
        .setPayloadBytes(info.payloadBytes())
        .setSha256(info.digest().map(ImageXml.Digest::sha256).orElse(""))
        .setLibvirtCompatible(info.compression().libvirtCompatible())
        .setLibvirtRestorableBy(info.compression().libvirtRestorableBy())
        .setVerifiable(info.verifiable())
        .build());
    out.onCompleted();
  }

  @Override
  public void updateImageXml(UpdateImageXmlRequest req,
      StreamObserver<UpdateImageXmlResponse> out) {
    Principal caller = CallPrincipal.require();
    Path path = switch (req.getTargetCase()) {
      case PATH -> images.roots().existing(req.getPath());
      case MANAGED_SAVE_NAME -> managed(caller, req.getManagedSaveName());
      default -> throw new InvalidArgumentException(
          "UpdateImageXmlRequest needs a target: path or managed_save_name");
    };
    out.onNext(UpdateImageXmlResponse.newBuilder()
        .setXml(images.updateXml(caller, path, req.getXml())).build());
    out.onCompleted();
  }

  private Path managed(Principal caller, String name) {
    Path p = images.domains().managedSavePath(caller, name);
    if (!Files.isRegularFile(p)) {
      throw new dev.cryo.server.error.NotFoundException("domain '" + name
          + "' has no managed save image");
    }
    return p;
  }

  @Override
  public void getManagedSave(GetManagedSaveRequest req, StreamObserver<GetManagedSaveResponse> out) {
    Principal caller = CallPrincipal.require();
    Path p = images.domains().managedSavePath(caller, req.getName());
    long size;
    try {
      size = Files.isRegularFile(p) ? Files.size(p) : 0;
    } catch (IOException e) {
      size = 0;
    }
    out.onNext(GetManagedSaveResponse.newBuilder().setExists(Files.isRegularFile(p))
        .setImageBytes(size).build());
    out.onCompleted();
  }

  @Override
  public void removeManagedSave(RemoveManagedSaveRequest req,
      StreamObserver<RemoveManagedSaveResponse> out) {
    Principal caller = CallPrincipal.require();
    if (!images.removeManagedSave(caller, req.getName())) {
      throw new dev.cryo.server.error.NotFoundException("domain '" + req.getName()
          + "' has no managed save image");
    }
    out.onNext(RemoveManagedSaveResponse.getDefaultInstance());
    out.onCompleted();
  }
}
