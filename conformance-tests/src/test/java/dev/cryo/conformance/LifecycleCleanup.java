package dev.cryo.conformance;

import dev.cryo.client.CryoException;
import dev.cryo.client.Domains;

/** Best-effort removal of a test domain. */
final class LifecycleCleanup {
  private LifecycleCleanup() {}

  static void destroyAndUndefine(Domains domains, String name) {
    try {
      domains.destroy(name);
    } catch (CryoException e) {
      // Not running.
    }
    try {
      domains.undefine(name, true);
    } catch (CryoException e) {
      // Not defined.
    }
  }
}
