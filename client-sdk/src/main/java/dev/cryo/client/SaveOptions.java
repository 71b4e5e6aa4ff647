package dev.cryo.client;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * How to save a domain. Start from {@link #defaults()} and change what you need:
 * {@code SaveOptions.defaults().compression(ImageCompression.ZSTD).after(AfterSave.CONTINUE)}.
 *
 * @param compression payload compression (default RAW)
 * @param level compression level, 0 for the format's default
 * @param after what the domain does afterwards (default STOP)
 * @param live copy memory while the guest runs (default false: pause first)
 * @param progress called with progress reports, on a gRPC thread; null for none
 * @param cancellation cancels the save; null for none
 */
public record SaveOptions(ImageCompression compression, int level, AfterSave after, boolean live,
    Consumer<SaveProgress> progress, Cancellation cancellation) {
  public SaveOptions {
    Objects.requireNonNull(compression, "compression");
    Objects.requireNonNull(after, "after");
    if (level < 0) {
      throw new IllegalArgumentException("level must be >= 0, got " + level);
    }
  }

  public static SaveOptions defaults() {
    return new SaveOptions(ImageCompression.RAW, 0, AfterSave.STOP, false, null, null);
  }

  public SaveOptions compression(ImageCompression c) {
    return new SaveOptions(c, level, after, live, progress, cancellation);
  }

  public SaveOptions level(int l) {
    return new SaveOptions(compression, l, after, live, progress, cancellation);
  }

  public SaveOptions after(AfterSave a) {
    return new SaveOptions(compression, level, a, live, progress, cancellation);
  }

  public SaveOptions live(boolean l) {
    return new SaveOptions(compression, level, after, l, progress, cancellation);
  }

  public SaveOptions progress(Consumer<SaveProgress> p) {
    return new SaveOptions(compression, level, after, live, p, cancellation);
  }

  public SaveOptions cancellation(Cancellation c) {
    return new SaveOptions(compression, level, after, live, progress, c);
  }
}
