package dev.cryo.client;

/** What a saved domain does once its image is complete. */
public enum AfterSave {
  /** Shut off with reason SAVED, like {@code virsh save} (the default). */
  STOP,
  /** Carries on as it was. */
  CONTINUE,
  /** Stays paused. */
  PAUSED
}
