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
import dev.cryo.server.error.InvalidArgumentException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;

/**
 * cryo.v1.BackupService. A streamed backup runs on an executor this service is given (not on a
 * gRPC thread): that thread holds the domain's job and sends each extent through the call's
 * {@link StreamGate}, so what one stream holds is bounded by the server's stream limits, and a
 * client that stops reading is abandoned after the stall limit and the backup cleaned up.
 */
final class BackupGrpcService extends BackupServiceGrpc.BackupServiceImplBase {
  private final Backups backups;
  private final Executor executor;
  private final StreamLimits limits;
  private final ScheduledExecutorService stallTimer;

  BackupGrpcService(Backups backups, Executor executor, StreamLimits limits,
      ScheduledExecutorService stallTimer) {
    this.backups = backups;
    this.executor = executor;
    this.limits = limits;
    this.stallTimer = stallTimer;
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
    BackupRequest request = new BackupRequest(emptyToNull(req.getSinceCheckpoint()),
        emptyToNull(req.getCheckpointXml()), targets(req.getDisksList(), false),
        req.getMaxBytesPerSecond());
    StreamGate<StreamBackupResponse> gate = StreamGate.serverStream(
        (ServerCallStreamObserver<StreamBackupResponse>) out, limits, stallTimer,
        StreamBackupResponse::getSerializedSize, "the backup of '" + req.getDomain() + "'");
    executor.execute(() -> {
      try {
        BackupJobInfo info = backups.stream(caller, req.getDomain(), request, new GateSink(gate));
        gate.offer(StreamBackupResponse.newBuilder().setFinished(toProto(info)).build());
        gate.complete();
      } catch (RuntimeException e) {
        gate.fail(e);
      }
    });
  }

  /**
   * Hands extents to the gate, which sends each once the transport is ready; the backup's thread
   * waits there. Once the call stopped (cancel, stall) {@link #cancelled} says so and a waiting
   * send throws the gate's error: the backup stops and cleans up.
   */
  private record GateSink(StreamGate<StreamBackupResponse> gate) implements Backups.ExtentSink {
    @Override
    public int maxExtentBytes() {
      return StreamGate.CHUNK_BYTES;
    }

    @Override
    public boolean cancelled() {
      return gate.ended();
    }

    @Override
    public void begin(BackupJobInfo info, Map<String, Long> diskSizes) {
      gate.send(StreamBackupResponse.newBuilder().setHeader(BackupHeader.newBuilder()
          .setJob(toProto(info)).putAllDiskSizes(diskSizes)).build());
    }

    @Override
    public void extent(Extent e) {
      BackupExtent.Builder b = BackupExtent.newBuilder().setDisk(e.disk()).setOffset(e.offset())
          .setLength(e.length()).setZero(e.zero());
      if (!e.zero()) {
        // The array is the server's own and never reused: send it without a copy.
        b.setData(UnsafeByteOperations.unsafeWrap(e.data()));
      }
      gate.send(StreamBackupResponse.newBuilder().setExtent(b).build());
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
