package dev.cryo.server.grpc;

import dev.cryo.api.v1.ImageVerification;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
import dev.cryo.api.v1.RestoreOptions;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.image.ImageXml;
import dev.cryo.server.jobs.Cancel;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.jobs.RestoreJob;
import dev.cryo.server.store.ObjectStore;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * One {@code RestoreDomain} call, as the messages of the client's stream arrive: the options
 * first (which start the restore on the image executor), then, for a streamed image, its chunks
 * (queued for the restore to read) and the digest trailer. A message out of that order ends the
 * call with INVALID_ARGUMENT; a cancel, a stall or a failure stops the restore, which kills its
 * half-restored QEMU.
 */
final class RestoreDomainCall implements StreamObserver<RestoreDomainRequest> {
  /** Chunks a restore asks for ahead of the one it is reading. */
  private static final int RESTORE_WINDOW = 16;

  private final Principal caller;
  private final StreamGate<RestoreDomainResponse> gate;
  private final ImageJobs images;
  private final ExecutorService executor;
  /** Hands a request's buffers back to gRPC once the restore has used them. */
  private final Consumer<RestoreDomainRequest> release;
  private final Cancel cancel = new Cancel();
  private final ChunkQueueInputStream chunks;
  private final AtomicReference<ImageXml.Digest> trailer = new AtomicReference<>();

  /** Only touched on the call's serialized listener thread. */
  private boolean started;
  private boolean streamSource;
  private boolean trailerSeen;

  RestoreDomainCall(Principal caller, StreamGate<RestoreDomainResponse> gate, long maxImageBytes,
      ImageJobs images, ExecutorService executor, Consumer<RestoreDomainRequest> release) {
    this.caller = caller;
    this.gate = gate;
    this.images = images;
    this.executor = executor;
    this.release = release;
    this.chunks = new ChunkQueueInputStream(gate, maxImageBytes);
    gate.onStop(why -> {
      cancel.cancel();
      chunks.fail(why);
    });
  }

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
          chunks.offer(req.getChunk(), () -> release.accept(req));
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
        release.accept(req);
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
    RestoreJob.Start start = switch (o.getStart()) {
      case RESTORE_START_UNSPECIFIED -> RestoreJob.Start.AS_SAVED;
      case RESTORE_START_RUNNING -> RestoreJob.Start.RUNNING;
      case RESTORE_START_PAUSED -> RestoreJob.Start.PAUSED;
      default -> throw new InvalidArgumentException("unknown start " + o.getStartValue());
    };
    RestoreJob.Options options = new RestoreJob.Options(start, o.getReplacementXml(),
        o.getRequireVerified());
    Runnable work = switch (o.getSourceCase()) {
      case STREAM -> {
        streamSource = true;
        gate.request(RESTORE_WINDOW);
        yield () -> finish(images.restore().fromStream(caller, chunks,
            () -> Optional.ofNullable(trailer.get()), options, cancel));
      }
      case PATH -> {
        Path path = images.roots().existing(o.getPath());
        yield () -> finish(images.restore().fromFile(caller, path, options, cancel));
      }
      case MANAGED_SAVE_NAME -> {
        // NOT_FOUND now for a domain the caller does not see, before any work is queued.
        images.domains().managedSavePath(caller, o.getManagedSaveName());
        yield () -> finish(images.managed().restore(caller, o.getManagedSaveName(), options,
            cancel));
      }
      case OBJECT_KEY -> {
        ObjectStore.Location loc = images.objects().resolve(o.getObjectKey());
        yield () -> finish(images.restore().fromObject(caller, loc, options, cancel));
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

  private void finish(RestoreJob.Result r) {
    gate.offer(RestoreDomainResponse.newBuilder()
        .setDomain(DomainProtos.toProto(r.domain()))
        .addAllWarnings(r.warnings())
        .setVerified(r.verified())
        .setVerification(r.verified() ? ImageVerification.IMAGE_VERIFICATION_VERIFIED
            : ImageVerification.IMAGE_VERIFICATION_UNVERIFIED)
        .setPayloadBytes(r.payloadBytes())
        .setDuration(ImageGrpcService.toProto(r.duration()))
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
}
