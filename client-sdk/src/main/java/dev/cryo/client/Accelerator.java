package dev.cryo.client;

/** How a guest's CPUs run. */
public enum Accelerator {
  /** In a definition: the best available. Reported for domains that are not running. */
  AUTO,
  /** Hardware virtualization through {@code /dev/kvm}. */
  KVM,
  /** QEMU's software emulator: slower, runs anywhere. */
  TCG
}
