package dev.cryo.server.qemu;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a QMP background job ({@code snapshot-save}, {@code snapshot-load}, {@code
 * snapshot-delete}...) to its end: start it, wait for the {@code JOB_STATUS_CHANGE} event that
 * says {@code concluded}, read its error from {@code query-jobs}, dismiss it.
 */
public final class QmpJobs {
  private QmpJobs() {}

  /**
   * Starts {@code command} with {@code arguments} (which must carry {@code job-id}) and waits up
   * to {@code timeout} for it to conclude.
   *
   * @throws QmpException if QEMU refused to start the job, or the job failed (its error text)
   * @throws IOException if the connection failed or the job did not end within {@code timeout}
   */
  public static void run(QmpClient qmp, String command, JsonObject arguments, Duration timeout)
      throws IOException, QmpException {
    run(qmp, command, arguments, timeout, false);
  }

  /**
   * As {@link #run(QmpClient, String, JsonObject, Duration)}; with {@code completeWhenReady}, a
   * job that reaches {@code ready} (an active {@code block-commit}, which would otherwise mirror
   * guest writes forever) is told to finish with {@code job-complete}, which pivots the device to
   * the base image.
   */
  public static void run(QmpClient qmp, String command, JsonObject arguments, Duration timeout,
      boolean completeWhenReady) throws IOException, QmpException {
    String id = arguments.get("job-id").getAsString();
    QmpClient.Subscription ready = null;
    if (completeWhenReady) {
      ready = qmp.addEventListener(e -> {
        if ("JOB_STATUS_CHANGE".equals(e.name()) && e.data() != null
            && id.equals(e.data().get("id").getAsString())
            && "ready".equals(e.data().get("status").getAsString())) {
          JsonObject complete = new JsonObject();
          complete.addProperty("id", id);
          // Not execute(): this runs on the QMP reader thread, which must not wait for replies.
          qmp.executeAsync("job-complete", complete);
        }
      });
    }
    try {
      runJob(qmp, command, arguments, timeout, id);
    } finally {
      if (ready != null) {
        try {
          ready.close();
        } catch (Exception e) {
          // Nothing to undo: the listener is gone either way.
        }
      }
    }
  }

  private static void runJob(QmpClient qmp, String command, JsonObject arguments,
      Duration timeout, String id) throws IOException, QmpException {
    CompletableFuture<QmpEvent> concluded = qmp.nextEvent("JOB_STATUS_CHANGE",
        e -> id.equals(e.data().get("id").getAsString())
            && "concluded".equals(e.data().get("status").getAsString()));
    try {
      qmp.execute(command, arguments, QmpClient.DEFAULT_COMMAND_TIMEOUT);
    } catch (QmpException | IOException e) {
      concluded.cancel(false);
      throw e;
    }
    try {
      concluded.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while waiting for job " + id);
    } catch (ExecutionException e) {
      throw new IOException("QEMU went away during job " + id, e.getCause());
    } catch (TimeoutException e) {
      concluded.cancel(false);
      throw new QmpTimeoutException(command, timeout);
    }
    String error = null;
    for (JsonElement j : qmp.execute("query-jobs").getAsJsonArray()) {
      JsonObject job = j.getAsJsonObject();
      if (id.equals(job.get("id").getAsString()) && job.has("error")) {
        error = job.get("error").getAsString();
      }
    }
    JsonObject dismiss = new JsonObject();
    dismiss.addProperty("id", id);
    qmp.execute("job-dismiss", dismiss, QmpClient.DEFAULT_COMMAND_TIMEOUT);
    if (error != null) {
      throw new QmpException(command, "JobFailed", error);
    }
  }
}
