package dev.cryo.server.auth;

import java.util.Objects;
import java.util.Set;

/**
 * Who is calling.
 *
 * @param name as written in the access file, for logs
 * @param role what the caller may do
 * @param domains the only domains the caller sees and touches; empty means all. Every other
 *     domain does not exist for this caller (NOT_FOUND, never PERMISSION_DENIED, so names of
 *     other tenants' domains do not leak).
 */
public record Principal(String name, Role role, Set<String> domains) {

  /**
   * The caller when authentication is off: the server listens on loopback or a Unix socket. Only
   * the gRPC edge attaches it, and only when the server runs without an access file.
   */
  public static final Principal LOCAL = new Principal("local", Role.ADMIN, Set.of());

  /**
   * The server acting on its own behalf, not for any caller: re-attaching to QEMUs at start,
   * recording crashes and stops, cleaning up after undefine, closing at shutdown. Named so that
   * such work is visible where it is done, never a default for an unknown caller.
   */
  public static final Principal INTERNAL = new Principal("cryo-internal", Role.ADMIN, Set.of());

  public Principal {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(role, "role");
    domains = Set.copyOf(domains);
  }

  /** Whether the domain {@code name} exists for this caller. */
  public boolean sees(String domain) {
    return domains.isEmpty() || domains.contains(domain);
  }
}
