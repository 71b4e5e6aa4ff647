package dev.cryo.server.grpc;

import com.google.protobuf.UnsafeByteOperations;
import dev.cryo.api.v1.BackupDisk;
import dev.cryo.api.v1.BackupExtent;
import dev.cryo.api.v1.BackupHeader;
import dev.cryo.api.v1.BackupJob;
import dev.cryo.api.v1.BackupKind;
import dev.cryo.api.v1.BackupServiceGrpc;
import dev.cryo.api.v1.BackupState;
import dev.cryo.api.v1.CancelBackupRequest;
import dev.cryo.api.v1.CancelBackupResponse;
import dev.cryo.api.v1.GetBackupJobRequest;
import dev.cryo.api.v1.GetBackupJobResponse;
import dev.cryo.api.v1.StartBackupRequest;
import dev.cryo.api.v1.StartBackupResponse;
import dev.cryo.api.v1.StreamBackupRequest;
import dev.cryo.api.v1.StreamBackupResponse;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.checkpoint.BackupJobInfo;
import dev.cryo.server.checkpoint.BackupRequest;
import dev.cryo.server.checkpoint.Backups;
import dev.cryo.server.checkpoint.Extent;
import dev.cryo.server.error.DeadlineExceededException;
import dev.cryo.server.error.InvalidArgumentException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * cryo.v1.BackupService. A streamed backup runs on an executor this service is given (not on a
 * gRPC thread): that thread holds the domain's job and sends each extent only once the transport
 * is ready, waiting on a condition the onReady handler signals, so at most one extent (1 MiB) per
 * stream is held in memory besides gRPC's own window.
 */
final class BackupGrpcService extends BackupServiceGrpc.BackupServiceImplBase {
  /** How long a streamed backup waits for a client that reads nothing. */
  static final Duration STALL_LIMIT = Duration.ofMinutes(5);

  private final Backups backups;
  private final Executor executor;

  BackupGrpcService(Backups backups, Executor executor) {
    this.backups = backups;
    this.executor = executor;
  }

  @Override
  public void startBackup(StartBackupRequest req, StreamObserver<StartBackupResponse> out) {
    Principal caller = CallPrincipal.require();
    BackupJobInfo info = backups.startPush(caller, req.getDomain(), new BackupRequest(
        emptyToNull(req.getSinceCheckpoint()), emptyToNull(req.getCheckpointXml()),
        targets(req.getDisksList(), true), req.getMaxBytesPerSecond()));
    out.onNext(StartBackupResponse.newBuilder().setJob(toProto(info)).build());
    out.onCompleted();
  }

  @Override
  public void getBackupJob(GetBackupJobRequest req, StreamObserver<GetBackupJobResponse> out) {
    Principal caller = CallPrincipal.require();
    out.onNext(GetBackupJobResponse.newBuilder()
        .setJob(toProto(backups.job(caller, req.getDomain()))).build());
    out.onCompleted();
  }

  @Override
  public void cancelBackup(CancelBackupRequest req, StreamObserver<CancelBackupResponse> out) {
    Principal caller = CallPrincipal.require();
    out.onNext(CancelBackupResponse.newBuilder()
        .setJob(toProto(backups.cancel(caller, req.getDomain()))).build());
    out.onCompleted();
  }

  @Override
  public void streamBackup(StreamBackupRequest req, StreamObserver<StreamBackupResponse> out) {
    Principal caller = CallPrincipal.require();
    ServerCallStreamObserver<StreamBackupResponse> call =
        (ServerCallStreamObserver<StreamBackupResponse>) out;
    BackupRequest request = new BackupRequest(emptyToNull(req.getSinceCheckpoint()),
        emptyToNull(req.getCheckpointXml()), targets(req.getDisksList(), false),
        req.getMaxBytesPerSecond());
    ReadySink sink = new ReadySink(call);
    call.setOnReadyHandler(sink::signal);
    call.setOnCancelHandler(sink::cancel);
    executor.execute(() -> {
      try {
        BackupJobInfo info = backups.stream(caller, req.getDomain(), request, sink);
        sink.send(StreamBackupResponse.newBuilder().setFinished(toProto(info)).build());
        call.onCompleted();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        if (sink.stalled != null) {
          call.onError(StatusMapping.toException(sink.stalled));
        } else if (!sink.clientCancelled) {
          call.onError(StatusMapping.toException(e));
        }
      }
    });
  }

  /** Hands extents to the call only while it is ready; guarded by {@link #lock}. */
  private static final class ReadySink implements Backups.ExtentSink {
    private final ServerCallStreamObserver<StreamBackupResponse> call;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition ready = lock.newCondition();
    private volatile boolean cancelled;
    /** Set by the cancel handler: the client is gone, nothing more may be sent. */
    volatile boolean clientCancelled;
    /** Set when the client stopped reading for too long; sent as the call's error. */
    volatile DeadlineExceededException stalled;

    ReadySink(ServerCallStreamObserver<StreamBackupResponse> call) {
      this.call = call;
    }

    void signal() {
      lock.lock();
      try {
        ready.signalAll();
      } finally {
        lock.unlock();
      }
    }

    void cancel() {
      clientCancelled = true;
      cancelled = true;
      signal();
    }

    @Override
    public boolean cancelled() {
      return cancelled;
    }

    @Override
    public void begin(BackupJobInfo info, Map<String, Long> diskSizes) {
      try {
        send(StreamBackupResponse.newBuilder().setHeader(BackupHeader.newBuilder()
            .setJob(toProto(info)).putAllDiskSizes(diskSizes)).build());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        cancelled = true;
      }
    }

    @Override
    public void extent(Extent e) throws InterruptedException {
      BackupExtent.Builder b = BackupExtent.newBuilder().setDisk(e.disk()).setOffset(e.offset())
          .setLength(e.length()).setZero(e.zero());
      if (!e.zero()) {
        // The array is the server's own and never reused: send it without a copy.
        b.setData(UnsafeByteOperations.unsafeWrap(e.data()));
      }
      send(StreamBackupResponse.newBuilder().setExtent(b).build());
    }

    void send(StreamBackupResponse message) throws InterruptedException {
      long deadline = System.nanoTime() + STALL_LIMIT.toNanos();
      lock.lock();
      try {
        while (!call.isReady() && !cancelled) {
          if (System.nanoTime() > deadline) {
            // A client that stops reading must not hold the domain's job forever.
            cancelled = true;
            stalled = new DeadlineExceededException("the client read nothing for "
                + STALL_LIMIT.toMinutes() + " min; the backup was stopped");
            throw stalled;
          }
          // Signalled by onReady or cancel; the timeout only guards against a missed signal.
          ready.await(1, TimeUnit.SECONDS);
        }
      } finally {
        lock.unlock();
      }
      if (!cancelled) {
        call.onNext(message);
      }
    }
  }

  private static List<BackupRequest.DiskTarget> targets(List<BackupDisk> disks, boolean push) {
    List<BackupRequest.DiskTarget> out = new ArrayList<>();
    for (BackupDisk d : disks) {
      if (!push && !d.getTargetPath().isEmpty()) {
        throw new InvalidArgumentException("a streamed backup takes no target_path (disk '"
            + d.getName() + "')");
      }
      Path target = null;
      if (push) {
        if (d.getTargetPath().isEmpty() || d.getTargetPath().indexOf('\0') >= 0) {
          throw new InvalidArgumentException("disk '" + d.getName()
              + "' needs a target_path for a push backup");
        }
        target = Path.of(d.getTargetPath());
      }
      out.add(new BackupRequest.DiskTarget(d.getName(), target));
    }
    return out;
  }

  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  static BackupJob toProto(BackupJobInfo info) {
    return BackupJob.newBuilder()
        .setDomain(info.domain())
        .setKind(info.kind() == BackupJobInfo.Kind.PUSH ? BackupKind.BACKUP_KIND_PUSH
            : BackupKind.BACKUP_KIND_STREAM)
        .setState(switch (info.state()) {
          case RUNNING -> BackupState.BACKUP_STATE_RUNNING;
          case COMPLETED -> BackupState.BACKUP_STATE_COMPLETED;
          case FAILED -> BackupState.BACKUP_STATE_FAILED;
          case CANCELLED -> BackupState.BACKUP_STATE_CANCELLED;
        })
        .setSinceCheckpoint(info.since() == null ? "" : info.since())
        .setCheckpoint(info.checkpoint() == null ? "" : info.checkpoint())
        .addAllDisks(info.disks())
        .setBytesDone(info.bytesDone())
        .setBytesTotal(info.bytesTotal())
        .setMessage(info.message() == null ? "" : info.message())
        .build();
  }
}
