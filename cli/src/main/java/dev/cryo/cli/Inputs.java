package dev.cryo.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads command inputs named {@code FILE} or {@code -} (standard input). */
final class Inputs {
  /** Domain XML is small; a bigger input is a mistake (a disk image piped by accident). */
  static final int MAX_TEXT_BYTES = 4 << 20;

  private Inputs() {}

  static String readText(String file, InputStream stdin) {
    try {
      byte[] bytes;
      if (file.equals("-")) {
        bytes = stdin.readNBytes(MAX_TEXT_BYTES + 1);
      } else {
        Path p = Path.of(file);
        if (Files.size(p) > MAX_TEXT_BYTES) {
          throw tooBig(file);
        }
        bytes = Files.readAllBytes(p);
      }
      if (bytes.length > MAX_TEXT_BYTES) {
        throw tooBig(file);
      }
      return new String(bytes, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new CliException(ExitCodes.INVALID_INPUT, "no such file: " + file, e);
    } catch (IOException e) {
      throw new CliException(ExitCodes.INVALID_INPUT, "cannot read " + file + ": " + e, e);
    }
  }

  private static CliException tooBig(String file) {
    return new CliException(ExitCodes.INVALID_INPUT, (file.equals("-") ? "standard input"
        : file) + " is larger than " + (MAX_TEXT_BYTES >> 20) + " MiB; is it really domain XML?",
        null);
  }
}
