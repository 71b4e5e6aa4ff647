package dev.cryo.client;

import static dev.cryo.client.FutureCalls.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * {@link Backups}: each call waits on {@link AsyncBackupsImpl}'s future or operation; a streamed
 * backup's receiver runs on the caller's thread ({@link CallingThreadExecutor}).
 */
final class BackupsImpl implements Backups {
  private final AsyncBackupsImpl async;

  BackupsImpl(io.grpc.Channel channel, Duration deadline, Executor io) {
    this.async = new AsyncBackupsImpl(channel, deadline, io);
  }

  @Override
  public AsyncBackups async() {
    return async;
  }

  @Override
  public BackupJob startPush(String domain, BackupOptions options, Map<String, Path> targets) {
    return await(async.startPush(domain, options, targets));
  }

  @Override
  public BackupJob job(String domain) {
    return await(async.job(domain));
  }

  @Override
  public BackupJob cancel(String domain) {
    return await(async.cancel(domain));
  }

  @Override
  public BackupJob stream(String domain, BackupOptions options, Receiver receiver) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.stream(domain, options, receiver, caller));
  }

  @Override
  public BackupJob streamToRawFiles(String domain, BackupOptions options,
      Map<String, Path> files) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.streamToRawFiles(domain, options, files, caller));
  }
}
