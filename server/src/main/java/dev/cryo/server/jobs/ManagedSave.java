package dev.cryo.server.jobs;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.Domains;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.store.AtomicFile;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A domain's managed save, {@code STATE/save/NAME.save}, as libvirt keeps one: saving into it,
 * restoring from it (then deleting it), removing it, and starting a domain, which restores its
 * managed save if it has one.
 */
public final class ManagedSave {
  private static final int IO_BUFFER = 1 << 20;

  private final Domains domains;
  private final SaveJob saves;
  private final RestoreJob restores;

  ManagedSave(Domains domains, SaveJob saves, RestoreJob restores) {
    this.domains = domains;
    this.saves = saves;
    this.restores = restores;
  }

  /** Saves {@code name} into its managed save, replacing one it had. */
  public SaveJob.Result save(Principal caller, String name, SaveJob.Options options,
      SaveJob.ProgressListener progress, Cancel cancel) {
    return saves.toFile(caller, name, domains.managedSavePath(caller, name), options, progress,
        cancel);
  }

  /**
   * Restores the managed save of {@code name}, then deletes it (as libvirt does).
   *
   * @throws NotFoundException if the domain has none, or {@code caller} does not see it
   */
  public RestoreJob.Result restore(Principal caller, String name, RestoreJob.Options options,
      Cancel cancel) {
    Path path = domains.managedSavePath(caller, name);
    if (!Files.isRegularFile(path)) {
      throw new CryoException(
              Reason.IMAGE_NOT_FOUND, "domain '" + name + "' has no managed save image")
          .with("domain", name);
    }
    RestoreJob.Result result;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), IO_BUFFER)) {
      result = restores.run(caller, in, Optional::empty, options, cancel, name, path);
    } catch (IOException e) {
      throw new InternalException("could not read the managed save of '" + name + "': "
          + e.getMessage(), e);
    }
    remove(caller, name);
    return new RestoreJob.Result(domains.info(caller, name), result.warnings(), result.verified(),
        result.payloadBytes(), result.duration());
  }

  /** Deletes the managed save of {@code name}; false if there was none. */
  public boolean remove(Principal caller, String name) {
    Path path = domains.managedSavePath(caller, name);
    try {
      boolean existed = Files.exists(path);
      AtomicFile.delete(path);
      return existed;
    } catch (IOException e) {
      throw new InternalException("could not delete the managed save of '" + name + "'", e);
    }
  }

  /**
   * Starts {@code name}: from its managed save if it has one (which is then deleted), else by
   * booting it, as libvirt's start does.
   *
   * @param forceBoot boot even if there is a managed save, and delete that save
   */
  public DomainInfo start(Principal caller, String name, boolean paused, boolean forceBoot) {
    Path managed = domains.managedSavePath(caller, name);
    if (Files.exists(managed)) {
      if (forceBoot) {
        remove(caller, name);
      } else {
        return restore(caller, name, new RestoreJob.Options(
            paused ? RestoreJob.Start.PAUSED : RestoreJob.Start.RUNNING, null),
            new Cancel()).domain();
      }
    }
    return domains.start(caller, name, paused);
  }
}
