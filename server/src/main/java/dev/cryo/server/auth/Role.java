package dev.cryo.server.auth;

/** What a principal may do. */
public enum Role {
  /** Get, List and Watch calls only: nothing that changes, pauses or reads a guest. */
  READ_ONLY,
  /** Everything. */
  ADMIN
}
