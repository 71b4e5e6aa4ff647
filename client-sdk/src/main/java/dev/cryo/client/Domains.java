package dev.cryo.client;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Domain lifecycle on one Cryo server: what {@code virsh define/start/suspend/...} does for
 * libvirt. Obtain it from {@link CryoClient#domains()}; it is thread-safe.
 *
 * <p>Every method throws {@link CryoException} on failure, with {@link CryoException#code()}
 * telling e.g. {@code NOT_FOUND} (no such domain) from {@code FAILED_PRECONDITION} (the domain's
 * state forbids the call, e.g. starting a running domain) and {@code INVALID_ARGUMENT} (bad XML or
 * config; the message names what to change).
 *
 * <p>Each call has the client's default deadline ({@link CryoClient.Builder#deadline}); {@link
 * #withDeadline} gives a view with another one. The reads {@link #get}, {@link #list} and {@link
 * #xml} are retried automatically while the server is {@code UNAVAILABLE}, within the deadline.
 */
public interface Domains {

  /**
   * A view of this API whose calls each have {@code deadline} instead of the client's default.
   * Cheap: create one per call if you like.
   *
   * <pre>{@code
   * cryo.domains().withDeadline(Duration.ofSeconds(5)).get("vm1");
   * }</pre>
   *
   * @throws IllegalArgumentException if {@code deadline} is zero or negative
   */
  Domains withDeadline(Duration deadline);

  /**
   * The same calls without blocking, each returning a {@code CompletableFuture}, with this
   * view's deadline. Cheap; thread-safe.
   *
   * <pre>{@code
   * cryo.domains().async().start("vm1").thenAccept(d -> System.out.println(d.state()));
   * }</pre>
   */
  AsyncDomains async();

  /**
   * Defines (or updates) a domain from libvirt domain XML.
   *
   * @return the domain, and the parts of the XML the server ignored
   */
  Defined define(String xml);

  /** Defines (or updates) a domain from a structured config. */
  Domain define(DomainConfig config);

  /**
   * Removes a shut-off domain's definition.
   *
   * @throws CryoException FAILED_PRECONDITION if it runs or has a managed save image
   */
  void undefine(String name);

  /** Removes a shut-off domain's definition and its managed save image, if any. */
  void undefine(String name, boolean removeManagedSave);

  /**
   * Starts a domain: boots it, or restores its managed save.
   *
   * @return the domain once QEMU runs (the guest may still be booting)
   * @throws CryoException FAILED_PRECONDITION if it already runs
   */
  Domain start(String name);

  /**
   * Starts a domain.
   *
   * @param paused leave the CPUs stopped (resume with {@link #resume})
   * @param forceBoot boot from scratch, discarding a managed save
   */
  Domain start(String name, boolean paused, boolean forceBoot);

  /** Pauses a running domain's virtual CPUs; its memory stays in place. */
  Domain suspend(String name);

  /** Resumes a paused domain. */
  Domain resume(String name);

  /**
   * Inserts a disc into a cdrom drive, replacing the one in it, as {@code virsh change-media
   * DOMAIN TARGET --update FILE} does; on a running domain the guest sees a media change, and the
   * stored XML names the new disc.
   *
   * @param target the cdrom's target dev, e.g. {@code sda}
   * @param iso absolute path of a raw ISO image inside the server's image folders, or null or
   *     empty to eject the disc
   */
  Domain changeMedia(String name, String target, String iso);

  /**
   * Asks the guest to power off (ACPI power button) and waits up to {@code timeout} for it. The
   * call's own deadline is {@code timeout} plus the client's deadline.
   *
   * @throws CryoException with DEADLINE_EXCEEDED if the guest did not power off in time; it
   *     keeps running
   */
  Domain shutdown(String name, Duration timeout);

  /** Stops the domain at once, like pulling the power cord. */
  Domain destroy(String name);

  /**
   * One domain's state.
   *
   * @throws CryoException NOT_FOUND if no domain has that name
   */
  Domain get(String name);

  /**
   * Domains in one of {@code states}, all when empty; sorted by name. Asks for as many pages as
   * there are (each one call, 1000 domains at most); a domain defined or undefined meanwhile may
   * or may not be listed, by where its name sorts.
   */
  List<Domain> list(Set<DomainState> states);

  /**
   * One page of {@link #list}: for callers that page themselves.
   *
   * @param pageSize the most domains to return; 0 for the server's default (1000, also its
   *     maximum)
   * @param pageToken empty (or null) for the first page, else {@link Page#nextPageToken} of the
   *     previous page, asked with the same {@code states}
   * @throws CryoException INVALID_ARGUMENT for a negative size or a token from another listing
   */
  Page<Domain> listPage(Set<DomainState> states, int pageSize, String pageToken);

  /** The domain XML as the server stores it. */
  String xml(String name);

  /**
   * Calls {@code listener} for each lifecycle event of {@code name} (all domains if null) until the
   * returned handle is closed. Returns once the subscription is in place, so no later event is
   * missed. Events arrive on a gRPC thread, in order.
   */
  AutoCloseable watch(String name, Consumer<DomainEvent> listener);

  /**
   * Like {@link #watch(String, Consumer)}, and calls {@code onFailure} once if the stream ends
   * for any reason other than closing the handle: the server stopped ({@code UNAVAILABLE}) or
   * failed. No event follows it.
   */
  AutoCloseable watch(String name, Consumer<DomainEvent> listener,
      Consumer<CryoException> onFailure);

  /**
   * Attaches to the domain's serial console, replaying up to 16 KiB of earlier output first. Lines
   * are kept for {@link Console#awaitLine}.
   */
  Console console(String name);

  /**
   * Attaches to the domain's serial console for an interactive session: every chunk of output is
   * handed to {@code output} as it arrives, on a gRPC thread, in order, and nothing is kept, so
   * {@link Console#awaitLine} and {@link Console#transcript} see nothing.
   *
   * @param historyBytes bytes of earlier output to replay first, at most 1 MiB; 0 for none
   */
  Console console(String name, int historyBytes, Consumer<byte[]> output);

  /**
   * The long operation (job) holding the domain, with its progress: what {@code virsh
   * domjobinfo} shows. Saves, restores, snapshots, checkpoints and backups all report here.
   * Never waits for the job.
   *
   * @return empty when no job holds the domain
   * @throws CryoException NOT_FOUND if no domain has that name
   */
  java.util.Optional<DomainJob> job(String name);

  /**
   * Aborts the domain's job, like {@code virsh domjobabort}: returns once the job was asked to
   * stop. The job's own call then fails with {@code CANCELLED} after undoing its work (an aborted
   * snapshot is not listed, leaves no file, and the guest goes on as it was; an aborted backup
   * ends {@code CANCELLED} as after {@link Backups#cancel}).
   *
   * @return the job as it was when asked
   * @throws CryoException FAILED_PRECONDITION if the domain has no job, or its job cannot be
   *     aborted (internal snapshots and deletes cannot)
   */
  DomainJob abortJob(String name);
}
