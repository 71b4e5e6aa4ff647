package dev.cryo.server.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.cryo.api.v1.GetImageInfoRequest;
import dev.cryo.api.v1.GetImageInfoResponse;
import dev.cryo.api.v1.GetManagedSaveRequest;
import dev.cryo.api.v1.GetManagedSaveResponse;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.RemoveManagedSaveRequest;
import dev.cryo.api.v1.RemoveManagedSaveResponse;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
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
import dev.cryo.server.jobs.Cancel;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.jobs.SaveJob;
import dev.cryo.server.store.ObjectStore;
import io.grpc.BindableService;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;

/**
 * cryo.v1.ImageService: proto in, a call of one of the {@link ImageJobs} on the service's own
 * executor, proto out. Image bytes flow through a {@link StreamGate} both ways; a restore's
 * messages are taken in order by its {@link RestoreDomainCall}.
 */
final class ImageGrpcService extends ImageServiceGrpc.ImageServiceImplBase {
  private final ImageJobs images;
  private final ExecutorService executor;
  private final StreamLimits limits;
  private final ScheduledExecutorService stallTimer;
  /** Restore chunks alias gRPC's receive buffers until the restore has used them. */
  private final AliasingMarshaller<RestoreDomainRequest> restoreRequests =
      new AliasingMarshaller<>(RestoreDomainRequest.getDefaultInstance());

  ImageGrpcService(ImageJobs images, ExecutorService executor, StreamLimits limits,
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

  // ---- save --------------------------------------------------------------------------------

  @Override
  public void saveDomain(SaveDomainRequest req, StreamObserver<SaveDomainResponse> out) {
    Principal caller = CallPrincipal.require();
    StreamGate<SaveDomainResponse> gate = StreamGate.serverStream(
        (ServerCallStreamObserver<SaveDomainResponse>) out, limits, stallTimer,
        SaveDomainResponse::getSerializedSize, "the save of '" + req.getName() + "'");
    Cancel cancel = new Cancel();
    // A cancel, a stall or a failure stops QEMU's migration; the save resumes the guest.
    gate.onStop(why -> cancel.cancel());
    SaveJob.Options options = saveOptions(req);
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
    SaveJob.ProgressListener progress = (phase, done, total, rate) ->
        gate.offerIfReady(SaveDomainResponse.newBuilder().setProgress(SaveProgress.newBuilder()
            .setPhase(SavePhase.forNumber(phase.ordinal() + 1))
            .setProcessedBytes(done).setEstimatedTotalBytes(total)
            .setRateBytesPerSecond(rate)).build());
    executor.execute(() -> {
      try {
        SaveJob.Result result = switch (req.getDestinationCase()) {
          case PATH -> images.save().toFile(caller, req.getName(), path, options, progress, cancel);
          case MANAGED_SAVE -> images.managed().save(caller, req.getName(), options, progress,
              cancel);
          case OBJECT_KEY -> images.save().toObject(caller, req.getName(), object, options,
              progress, cancel);
          default -> {
            try (ChunkingOutputStream chunks = new ChunkingOutputStream(gate)) {
              SaveJob.Result r = images.save().toStream(caller, req.getName(), chunks, options,
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

  private static SaveJob.Options saveOptions(SaveDomainRequest req) {
    if (req.getName().isEmpty()) {
      throw new InvalidArgumentException("SaveDomainRequest.name is required");
    }
    SaveJob.After after = switch (req.getAfter()) {
      case AFTER_SAVE_UNSPECIFIED, AFTER_SAVE_STOP -> SaveJob.After.STOP;
      case AFTER_SAVE_CONTINUE -> SaveJob.After.CONTINUE;
      case AFTER_SAVE_PAUSED -> SaveJob.After.PAUSED;
      default -> throw new InvalidArgumentException("unknown after value " + req.getAfterValue());
    };
    return new SaveJob.Options(fromProto(req.getCompression()),
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

  private static SaveSummary summary(SaveJob.Result r) {
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
    return new RestoreDomainCall(caller, gate, limits.maxImageBytes(), images, executor,
        restoreRequests::release);
  }

  // ---- facts and managed save --------------------------------------------------------------

  @Override
  public void getImageInfo(GetImageInfoRequest req, StreamObserver<GetImageInfoResponse> out) {
    Principal caller = CallPrincipal.require();
    SaveImageFile.Info info = switch (req.getSourceCase()) {
      case PATH -> images.facts().info(caller, images.roots().existing(req.getPath()));
      // The caller's own bytes: nothing of anyone else's to reveal.
      case HEAD -> images.facts().info(req.getHead().toByteArray());
      case MANAGED_SAVE_NAME ->
          images.facts().info(caller, managed(caller, req.getManagedSaveName()));
      case OBJECT_KEY -> images.facts().info(caller, images.objects().resolve(req.getObjectKey()));
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
        .setXml(images.facts().updateXml(caller, path, req.getXml())).build());
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
  public void getManagedSave(GetManagedSaveRequest req,
      StreamObserver<GetManagedSaveResponse> out) {
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
    if (!images.managed().remove(caller, req.getName())) {
      throw new dev.cryo.server.error.NotFoundException("domain '" + req.getName()
          + "' has no managed save image");
    }
    out.onNext(RemoveManagedSaveResponse.getDefaultInstance());
    out.onCompleted();
  }
}
