package dev.cryo.server.jobs;

import dev.cryo.server.domain.Domains;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.store.ImageRoots;
import dev.cryo.server.store.ObjectStore;

/**
 * The image jobs of one server, built together over one set of domains, image folders and
 * (maybe) object store: {@link SaveJob}, {@link RestoreJob}, {@link ManagedSave} and {@link
 * ImageFacts}. What the image adapter and snapshots call.
 */
public final class ImageJobs {
  private final Domains domains;
  /** The server's object store, or null if it has none. */
  private final ObjectStore objects;
  private final SaveJob save;
  private final RestoreJob restore;
  private final ManagedSave managed;
  private final ImageFacts facts;

  /**
   * @param requireVerifiedImages refuse every restore of an image whose payload cannot be
   *     checked against a digest (FAILED_PRECONDITION), whatever the request says
   * @param objects the object store images may also live in, or null for none
   */
  public ImageJobs(Domains domains, boolean requireVerifiedImages, ObjectStore objects) {
    this.domains = domains;
    this.objects = objects;
    this.save = new SaveJob(domains, objects);
    this.restore = new RestoreJob(domains, requireVerifiedImages, objects);
    this.managed = new ManagedSave(domains, save, restore);
    this.facts = new ImageFacts(objects);
  }

  public SaveJob save() {
    return save;
  }

  public RestoreJob restore() {
    return restore;
  }

  public ManagedSave managed() {
    return managed;
  }

  public ImageFacts facts() {
    return facts;
  }

  public Domains domains() {
    return domains;
  }

  /** The folders image files may be read from and written to. */
  public ImageRoots roots() {
    return domains.imageRoots();
  }

  /**
   * The object store images may also live in.
   *
   * @throws FailedPreconditionException if the server has none
   */
  public ObjectStore objects() {
    return require(objects);
  }

  /** {@code objects}, or FAILED_PRECONDITION saying how to give the server one. */
  static ObjectStore require(ObjectStore objects) {
    if (objects == null) {
      throw new FailedPreconditionException("this server has no object store: start it with "
          + "--object-store-bucket (and --object-store-endpoint for a store other than AWS S3)");
    }
    return objects;
  }
}
