package dev.cryo.client;

import static dev.cryo.client.DomainsImpl.call;

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
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/** {@link Backups} over cryo.v1.BackupService. */
final class BackupsImpl implements Backups {
  private static final Object END = new Object();
  private static final int ZERO_CHUNK = 1 << 20;

  private final BackupServiceGrpc.BackupServiceBlockingStub blocking;
  private final BackupServiceGrpc.BackupServiceStub async;
  private final Duration deadline;

  BackupsImpl(io.grpc.Channel channel, Duration deadline) {
    this.blocking = BackupServiceGrpc.newBlockingStub(channel);
    this.async = BackupServiceGrpc.newStub(channel);
    this.deadline = deadline;
  }

  private BackupServiceGrpc.BackupServiceBlockingStub stub() {
    return blocking.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public BackupJob startPush(String domain, BackupOptions options, Map<String, Path> targets) {
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
    return fromProto(call(() -> stub().startBackup(req.build())).getJob());
  }

  @Override
  public BackupJob job(String domain) {
    return fromProto(call(() -> stub().getBackupJob(GetBackupJobRequest.newBuilder()
        .setDomain(domain).build())).getJob());
  }

  @Override
  public BackupJob cancel(String domain) {
    return fromProto(call(() -> stub().cancelBackup(CancelBackupRequest.newBuilder()
        .setDomain(domain).build())).getJob());
  }

  @Override
  public BackupJob stream(String domain, BackupOptions options, Receiver receiver) {
    StreamBackupRequest.Builder req = StreamBackupRequest.newBuilder().setDomain(domain)
        .setMaxBytesPerSecond(options.maxBytesPerSecond());
    if (options.since() != null) {
      req.setSinceCheckpoint(options.since());
    }
    if (options.checkpointXml() != null) {
      req.setCheckpointXml(options.checkpointXml());
    }
    options.disks().forEach(d -> req.addDisks(BackupDisk.newBuilder().setName(d)));
    // One message requested at a time: the queue never holds more than it plus the end.
    BlockingQueue<Object> queue = new ArrayBlockingQueue<>(4);
    @SuppressWarnings("unchecked")
    ClientCallStreamObserver<StreamBackupRequest>[] call = new ClientCallStreamObserver[1];
    ClientResponseObserver<StreamBackupRequest, StreamBackupResponse> observer =
        new ClientResponseObserver<>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<StreamBackupRequest> requestStream) {
            requestStream.disableAutoRequestWithInitial(1);
            call[0] = requestStream;
          }

          @Override
          public void onNext(StreamBackupResponse value) {
            queue.add(value);
          }

          @Override
          public void onError(Throwable t) {
            queue.add(t);
          }

          @Override
          public void onCompleted() {
            queue.add(END);
          }
        };
    async.streamBackup(req.build(), observer);
    BackupJob result = null;
    try {
      while (true) {
        Object item = queue.take();
        if (item == END) {
          if (result == null) {
            throw new CryoException(CryoException.ErrorCode.DATA_LOSS,
                "the backup stream ended without its final message", null);
          }
          return result;
        }
        if (item instanceof Throwable t) {
          throw CryoException.from(t);
        }
        StreamBackupResponse msg = (StreamBackupResponse) item;
        switch (msg.getItemCase()) {
          case HEADER -> receiver.begin(msg.getHeader().getDiskSizesMap(),
              msg.getHeader().hasJob() ? msg.getHeader().getJob().getBytesTotal() : -1);
          case EXTENT -> {
            var e = msg.getExtent();
            receiver.extent(new BackupExtent(e.getDisk(), e.getOffset(), e.getLength(),
                e.getZero(), e.getZero() ? new byte[0] : e.getData().toByteArray()));
          }
          case FINISHED -> result = fromProto(msg.getFinished());
          default -> { }
        }
        call[0].request(1);
      }
    } catch (IOException e) {
      call[0].cancel("the receiver failed", e);
      throw new CryoException(CryoException.ErrorCode.CANCELLED,
          "the backup was cancelled because its receiver failed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      if (!(e instanceof CryoException)) {
        call[0].cancel("the receiver failed", e);
      }
      throw CryoException.from(e);
    } catch (InterruptedException e) {
      call[0].cancel("interrupted", e);
      throw CryoException.from(e);
    }
  }

  @Override
  public BackupJob streamToRawFiles(String domain, BackupOptions options,
      Map<String, Path> files) {
    RawFileReceiver receiver = new RawFileReceiver(files);
    try {
      return stream(domain, options, receiver);
    } finally {
      receiver.close();
    }
  }

  /** Writes extents into raw files; skips zero extents in files it has just created. */
  private static final class RawFileReceiver implements Receiver {
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
