package dev.cryo.client;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Domain lifecycle on one Cryo server: what {@code virsh define/start/suspend/...} does for
 * libvirt. Every method throws {@link CryoException} on failure, with {@link
 * CryoException#code()} telling e.g. NOT_FOUND from FAILED_PRECONDITION.
 */
public interface Domains {

  /** Defines (or updates) a domain from libvirt domain XML. */
  Defined define(String xml);

  /** Defines (or updates) a domain from a structured config. */
  Domain define(DomainConfig config);

  /** Removes a shut-off domain's definition. */
  void undefine(String name);

  /** Removes a shut-off domain's definition and its managed save image, if any. */
  void undefine(String name, boolean removeManagedSave);

  /** Starts a domain: boots it, or restores its managed save. */
  Domain start(String name);

  /**
   * Starts a domain.
   *
   * @param paused leave the CPUs stopped
   * @param forceBoot boot from scratch, discarding a managed save
   */
  Domain start(String name, boolean paused, boolean forceBoot);

  Domain suspend(String name);

  Domain resume(String name);

  /**
   * Asks the guest to power off and waits up to {@code timeout} for it.
   *
   * @throws CryoException with DEADLINE_EXCEEDED if the guest did not power off in time
   */
  Domain shutdown(String name, Duration timeout);

  /** Stops the domain at once. */
  Domain destroy(String name);

  Domain get(String name);

  /** Domains in one of {@code states}, all when empty; sorted by name. */
  List<Domain> list(Set<DomainState> states);

  /** The stored domain XML. */
  String xml(String name);

  /**
   * Calls {@code listener} for each lifecycle event of {@code name} (all domains if null) until the
   * returned handle is closed. Events arrive on a gRPC thread, in order.
   */
  AutoCloseable watch(String name, Consumer<DomainEvent> listener);

  /** Attaches to the domain's serial console. */
  Console console(String name);
}
