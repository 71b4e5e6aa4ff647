package dev.cryo.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Defaults for the connection options: the environment ({@code CRYO_TARGET}, {@code
 * CRYO_TLS_CA}, ...), else the config file ({@code $CRYO_CONFIG}, default {@code
 * ~/.config/cryo/cli.properties}, keys named like the options without dashes: {@code target},
 * {@code tls-ca}, ...). A flag on the command line beats both.
 */
public final class ConnectionDefaults implements IDefaultValueProvider {
  private static final Set<String> KEYS =
      Set.of("target", "tls-ca", "tls-cert", "tls-key", "token-file");

  private Properties config;

  @Override
  public String defaultValue(ArgSpec arg) throws IOException {
    if (!(arg instanceof OptionSpec option)) {
      return null;
    }
    String key = option.longestName().replaceFirst("^--", "");
    if (!KEYS.contains(key)) {
      return null;
    }
    String env = System.getenv("CRYO_" + key.toUpperCase(Locale.ROOT).replace('-', '_'));
    if (env != null && !env.isBlank()) {
      return env;
    }
    return config().getProperty(key);
  }

  private Properties config() throws IOException {
    if (config == null) {
      config = new Properties();
      String named = System.getenv("CRYO_CONFIG");
      Path file = named != null && !named.isBlank() ? Path.of(named)
          : Path.of(System.getProperty("user.home"), ".config", "cryo", "cli.properties");
      if (Files.isRegularFile(file)) {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
          config.load(r);
        }
      } else if (named != null && !named.isBlank()) {
        throw new IOException("CRYO_CONFIG names " + file + ", which is not a file");
      }
    }
    return config;
  }
}
