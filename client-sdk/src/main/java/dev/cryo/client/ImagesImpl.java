package dev.cryo.client;

import static dev.cryo.client.FutureCalls.await;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executor;

/**
 * {@link Images}: each call runs {@link AsyncImagesImpl}'s operation and waits for it, with the
 * caller's thread doing the operation's local I/O (a {@link CallingThreadExecutor}), so a
 * blocking save writes the caller's stream on the caller's thread, as it always did.
 */
final class ImagesImpl implements Images {
  final AsyncImagesImpl async;

  ImagesImpl(io.grpc.Channel channel, Duration deadline, AsyncDomains domains, Executor io) {
    this.async = new AsyncImagesImpl(channel, deadline, domains, io);
  }

  @Override
  public AsyncImages async() {
    return async;
  }

  @Override
  public SaveSummary saveToServer(String name, String serverPath, SaveOptions options) {
    return await(async.saveToServer(name, serverPath, options).result());
  }

  @Override
  public SaveSummary saveManaged(String name, SaveOptions options) {
    return await(async.saveManaged(name, options).result());
  }

  @Override
  public SaveSummary save(String name, OutputStream out, SaveOptions options) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.save(name, out, options, caller));
  }

  @Override
  public SaveSummary save(String name, Path localFile, SaveOptions options) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.save(name, localFile, options, caller));
  }

  @Override
  public Restored restore(InputStream image, String sha256, long payloadBytes,
      RestoreOptions options) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.restore(image, sha256, payloadBytes, 0, options, caller));
  }

  @Override
  public Restored restore(Path localFile, RestoreOptions options) {
    CallingThreadExecutor caller = new CallingThreadExecutor();
    return caller.await(async.restore(localFile, options, caller));
  }

  @Override
  public Restored restoreFromServer(String serverPath, RestoreOptions options) {
    return await(async.restoreFromServer(serverPath, options).result());
  }

  @Override
  public Restored restoreManaged(String name, RestoreOptions options) {
    return await(async.restoreManaged(name, options).result());
  }

  @Override
  public Transferred transfer(String name, SaveOptions save, Images target,
      RestoreOptions restore) {
    // No local I/O: the save's chunks go straight into the target's call.
    return await(async.transfer(name, save, target, restore).result());
  }

  @Override
  public ImageInfo info(String serverPath) {
    return await(async.info(serverPath));
  }

  @Override
  public ImageInfo infoOfHead(byte[] head) {
    return await(async.infoOfHead(head));
  }

  @Override
  public String updateXml(String serverPath, String xml) {
    return await(async.updateXml(serverPath, xml));
  }

  @Override
  public boolean hasManagedSave(String name) {
    return await(async.hasManagedSave(name));
  }

  @Override
  public void removeManagedSave(String name) {
    await(async.removeManagedSave(name));
  }
}
