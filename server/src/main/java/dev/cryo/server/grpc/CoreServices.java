package dev.cryo.server.grpc;

import dev.cryo.server.checkpoint.Backups;
import dev.cryo.server.checkpoint.Checkpoints;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.jobs.ImageJobs;
import dev.cryo.server.snapshot.Snapshots;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The core the gRPC adapters call into, built once per server and shared by every listener (TCP
 * and Unix socket alike), so there is one set of domains, one job per domain, one image executor.
 *
 * @param imageExecutor runs saves and restores: blocking QEMU and disk I/O, never gRPC's threads
 * @param backupExecutor runs backups, which hold a domain's job for their whole length
 * @param streamLimits the limits every streaming call is held to ({@link StreamGate})
 * @param stallTimer runs the stall checks of streaming calls; short tasks only
 */
public record CoreServices(
    Domains domains,
    ImageJobs images,
    Snapshots snapshots,
    Checkpoints checkpoints,
    Backups backups,
    ExecutorService imageExecutor,
    ExecutorService backupExecutor,
    StreamLimits streamLimits,
    ScheduledExecutorService stallTimer) {

  public CoreServices {
    Objects.requireNonNull(domains, "domains");
    Objects.requireNonNull(images, "images");
    Objects.requireNonNull(snapshots, "snapshots");
    Objects.requireNonNull(checkpoints, "checkpoints");
    Objects.requireNonNull(backups, "backups");
    Objects.requireNonNull(imageExecutor, "imageExecutor");
    Objects.requireNonNull(backupExecutor, "backupExecutor");
    Objects.requireNonNull(streamLimits, "streamLimits");
    Objects.requireNonNull(stallTimer, "stallTimer");
  }
}
