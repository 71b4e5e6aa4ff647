package dev.cryo.client;

import static dev.cryo.client.FutureCalls.unary;

import dev.cryo.api.v1.BackupDisk;
import dev.cryo.api.v1.BackupServiceGrpc;
import dev.cryo.api.v1.CancelBackupRequest;
import dev.cryo.api.v1.GetBackupJobRequest;
import dev.cryo.api.v1.StartBackupRequest;
import dev.cryo.api.v1.StreamBackupRequest;
import dev.cryo.api.v1.StreamBackupResponse;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * {@link AsyncBackups} over cryo.v1.BackupService's async stub; {@link BackupsImpl} waits on the
 * same futures and operations, running a streamed backup's receiver on its caller's thread.
 */
final class AsyncBackupsImpl implements AsyncBackups {
  private static final int ZERO_CHUNK = 1 << 20;

  private final BackupServiceGrpc.BackupServiceStub stub;
  private final Duration deadline;
  private final Executor io;

  AsyncBackupsImpl(io.grpc.Channel channel, Duration deadline, Executor io) {
    this.stub = BackupServiceGrpc.newStub(channel);
    this.deadline = deadline;
    this.io = io;
  }

  private BackupServiceGrpc.BackupServiceStub unaryStub() {
    return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public CompletableFuture<BackupJob> startPush(String domain, BackupOptions options,
      Map<String, Path> targets) {
    StartBackupRequest.Builder req = StartBackupRequest.newBuilder().setDomain(domain)
        .setMaxBytesPerSecond(options.maxBytesPerSecond());
    if (options.since() != null) {
      req.setSinceCheckpoint(options.since());
    }
    if (options.checkpointXml() != null) {
      req.setCheckpointXml(options.checkpointXml());
    }
    targets.forEach((disk, path) -> req.addDisks(BackupDisk.newBuilder().setName(disk)
        .setTargetPath(path.toString())));
    return unary(req.build(), unaryStub()::startBackup, r -> fromProto(r.getJob()));
  }

  @Override
  public CompletableFuture<BackupJob> job(String domain) {
    return unary(GetBackupJobRequest.newBuilder().setDomain(domain).build(),
        unaryStub()::getBackupJob, r -> fromProto(r.getJob()));
  }

  @Override
  public CompletableFuture<BackupJob> cancel(String domain) {
    return unary(CancelBackupRequest.newBuilder().setDomain(domain).build(),
        unaryStub()::cancelBackup, r -> fromProto(r.getJob()));
  }

  @Override
  public Operation<BackupJob> stream(String domain, BackupOptions options,
      Backups.Receiver receiver) {
    return stream(domain, options, receiver, io);
  }

  /**
   * Runs a StreamBackup call, handing each message to {@code receiver} on {@code exec}; the next
   * is requested only once it returned, so memory stays bounded however large the disk.
   */
  RunningOperation<BackupJob> stream(String domain, BackupOptions options,
      Backups.Receiver receiver, Executor exec) {
    StreamBackupRequest.Builder req = StreamBackupRequest.newBuilder().setDomain(domain)
        .setMaxBytesPerSecond(options.maxBytesPerSecond());
    if (options.since() != null) {
      req.setSinceCheckpoint(options.since());
    }
    if (options.checkpointXml() != null) {
      req.setCheckpointXml(options.checkpointXml());
    }
    options.disks().forEach(d -> req.addDisks(BackupDisk.newBuilder().setName(d)));
    RunningOperation<BackupJob> op = new RunningOperation<>();
    op.start(() -> stub.streamBackup(req.build(), new ClientResponseObserver<StreamBackupRequest,
        StreamBackupResponse>() {
      private ClientCallStreamObserver<StreamBackupRequest> call;
      /** The receiver's calls in order; touched only in gRPC's callbacks, which never overlap. */
      private CompletableFuture<Void> handled = CompletableFuture.completedFuture(null);
      /** Written and read only in the receiver's tasks, which run one after another. */
      private BackupJob finished;
      private long dataBytes;
      private long receivedBytes;

      @Override
      public void beforeStart(ClientCallStreamObserver<StreamBackupRequest> requestStream) {
        requestStream.disableAutoRequestWithInitial(1);
        call = requestStream;
      }

      @Override
      public void onNext(StreamBackupResponse msg) {
        handled = handled.thenRunAsync(() -> {
          if (!op.result().isDone()) {
            handle(msg);
          }
        }, exec).whenComplete((v, failure) -> {
          if (failure != null) {
            op.fail(failure);
          } else {
            call.request(1);
          }
        });
      }

      private void handle(StreamBackupResponse msg) {
        try {
          switch (msg.getItemCase()) {
            case HEADER -> {
              dataBytes = msg.getHeader().hasJob() ? msg.getHeader().getJob().getBytesTotal() : 0;
              receiver.begin(msg.getHeader().getDiskSizesMap(),
                  msg.getHeader().hasJob() ? dataBytes : -1);
            }
            case EXTENT -> {
              var e = msg.getExtent();
              receiver.extent(new BackupExtent(e.getDisk(), e.getOffset(), e.getLength(),
                  e.getZero(), e.getZero() ? new byte[0] : e.getData().toByteArray()));
              if (!e.getZero()) {
                receivedBytes += e.getLength();
                op.report(new Progress("TRANSFER", receivedBytes, dataBytes));
              }
            }
            case FINISHED -> finished = fromProto(msg.getFinished());
            default -> { }
          }
        } catch (IOException e) {
          throw new CompletionException(new CryoException(CryoException.ErrorCode.CANCELLED,
              "the backup was cancelled because its receiver failed: " + e.getMessage(), e));
        }
      }

      @Override
      public void onError(Throwable t) {
        op.fail(t);
      }

      @Override
      public void onCompleted() {
        handled.thenRun(() -> {
          if (finished == null) {
            op.fail(new CryoException(CryoException.ErrorCode.DATA_LOSS,
                "the backup stream ended without its final message", null));
          } else {
            op.complete(finished);
          }
        });
      }
    }));
    return op;
  }

  @Override
  public Operation<BackupJob> streamToRawFiles(String domain, BackupOptions options,
      Map<String, Path> files) {
    return streamToRawFiles(domain, options, files, io);
  }

  RunningOperation<BackupJob> streamToRawFiles(String domain, BackupOptions options,
      Map<String, Path> files, Executor exec) {
    RawFileReceiver receiver = new RawFileReceiver(files);
    RunningOperation<BackupJob> op = stream(domain, options, receiver, exec);
    op.result().whenComplete((job, failure) -> receiver.close());
    return op;
  }

  /** Writes extents into raw files; skips zero extents in files it has just created. */
  private static final class RawFileReceiver implements Backups.Receiver {
    private final Map<String, Path> files;
    private final Map<String, FileChannel> channels = new HashMap<>();
    private final Set<String> fresh = new HashSet<>();

    RawFileReceiver(Map<String, Path> files) {
      this.files = Map.copyOf(files);
    }

    @Override
    public void begin(Map<String, Long> diskSizes) throws IOException {
      for (Map.Entry<String, Long> disk : diskSizes.entrySet()) {
        Path file = files.get(disk.getKey());
        if (file == null) {
          throw new IOException("no local file given for disk '" + disk.getKey() + "'");
        }
        boolean isNew = !Files.exists(file) || Files.size(file) == 0;
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE,
            StandardOpenOption.WRITE, StandardOpenOption.READ);
        channels.put(disk.getKey(), ch);
        if (isNew) {
          fresh.add(disk.getKey());
        }
        long size = disk.getValue();
        if (ch.size() > size) {
          ch.truncate(size);
        } else if (ch.size() < size) {
          ch.write(ByteBuffer.allocate(1), size - 1); // sparse: the rest reads as zeros
        }
      }
    }

    @Override
    public void extent(BackupExtent e) throws IOException {
      FileChannel ch = channels.get(e.disk());
      if (ch == null) {
        throw new IOException("extent for unknown disk '" + e.disk() + "'");
      }
      if (e.zero()) {
        if (fresh.contains(e.disk())) {
          return;
        }
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, e.length()));
        for (long pos = 0; pos < e.length(); pos += zeros.capacity()) {
          zeros.clear().limit((int) Math.min(zeros.capacity(), e.length() - pos));
          writeFully(ch, zeros, e.offset() + pos);
        }
        return;
      }
      writeFully(ch, ByteBuffer.wrap(e.data()), e.offset());
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf, long position)
        throws IOException {
      long pos = position;
      while (buf.hasRemaining()) {
        pos += ch.write(buf, pos);
      }
    }

    void close() {
      for (FileChannel ch : channels.values()) {
        try {
          ch.force(true);
          ch.close();
        } catch (IOException e) {
          // Best effort on the way out; a write error was already reported.
        }
      }
    }
  }

  static BackupJob fromProto(dev.cryo.api.v1.BackupJob j) {
    return new BackupJob(j.getDomain(),
        j.getKind() == dev.cryo.api.v1.BackupKind.BACKUP_KIND_PUSH ? BackupJob.Kind.PUSH
            : BackupJob.Kind.STREAM,
        switch (j.getState()) {
          case BACKUP_STATE_COMPLETED -> BackupJob.State.COMPLETED;
          case BACKUP_STATE_FAILED -> BackupJob.State.FAILED;
          case BACKUP_STATE_CANCELLED -> BackupJob.State.CANCELLED;
          default -> BackupJob.State.RUNNING;
        },
        j.getSinceCheckpoint().isEmpty() ? null : j.getSinceCheckpoint(),
        j.getCheckpoint().isEmpty() ? null : j.getCheckpoint(),
        j.getDisksList(), j.getBytesDone(), j.getBytesTotal(), j.getMessage());
  }
}
