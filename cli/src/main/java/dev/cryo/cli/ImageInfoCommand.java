package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.ImageInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cryo image-info FILE}: the facts of a save image, local or on the server. */
@Command(name = "image-info",
    description = "Show a save image's facts: domain, compression, sizes, digest. A local FILE "
        + "(its first MiB is sent to the server to parse) or --server-file PATH.")
final class ImageInfoCommand extends ClientCommand {
  /** The server reads header and XML from this much; images Cryo and libvirt write fit. */
  static final int HEAD_BYTES = 1 << 20;

  @Parameters(arity = "0..1", paramLabel = "FILE|-", description = "Local image, - for stdin.")
  String file;

  @Option(names = "--server-file", paramLabel = "PATH", description = "An image on the server.")
  String serverFile;

  @Option(names = "--xml", description = "Print only the domain XML stored in the image.")
  boolean xmlOnly;

  @Override
  int run(CryoClient cryo, Output out) throws Exception {
    if ((file == null) == (serverFile == null)) {
      throw new CliException(ExitCodes.USAGE, "give either FILE|- or --server-file PATH", null);
    }
    ImageInfo info;
    if (serverFile != null) {
      info = cryo.images().info(serverFile);
    } else {
      byte[] head;
      long size = -1;
      try (InputStream in = file.equals("-") ? System.in : Files.newInputStream(Path.of(file))) {
        head = in.readNBytes(HEAD_BYTES);
        if (!file.equals("-")) {
          size = Files.size(Path.of(file));
        }
      } catch (NoSuchFileException e) {
        throw new CliException(ExitCodes.INVALID_INPUT, "no such file: " + file, e);
      } catch (IOException e) {
        throw new CliException(ExitCodes.INVALID_INPUT, "cannot read " + file + ": " + e, e);
      }
      info = cryo.images().infoOfHead(head);
      if (size >= 0) {
        // The server saw only the head; the payload is the rest of the file.
        info = new ImageInfo(info.xml(), info.wasRunning(), info.compression(),
            info.payloadOffset(), Math.max(0, size - info.payloadOffset()), info.sha256(),
            info.libvirtCompatible(), info.verifiable(), info.libvirtRestorableBy());
      }
    }
    if (out.json()) {
      out.json(Output.imageInfo(info));
    } else if (xmlOnly) {
      out.text(info.xml());
    } else {
      String name = info.xml().replaceAll("(?s).*?<name>\\s*([^<]*?)\\s*</name>.*", "$1");
      out.line(String.format("%-16s %s", "Domain:", name));
      out.line(String.format("%-16s %s", "State:", info.wasRunning() ? "running" : "paused"));
      out.line(String.format("%-16s %s", "Compression:", Output.lower(info.compression().name())));
      out.line(String.format("%-16s %d", "Payload offset:", info.payloadOffset()));
      out.line(String.format("%-16s %s", "Payload:", info.payloadBytes() == 0 ? "-"
          : Progress.bytes(info.payloadBytes()) + " (" + info.payloadBytes() + " bytes)"));
      out.line(String.format("%-16s %s", "SHA-256:", info.sha256().isEmpty() ? "-"
          : info.sha256()));
      out.line(String.format("%-16s %s", "libvirt:", (info.libvirtCompatible() ? "yes: " : "no: ")
          + info.libvirtRestorableBy()));
      out.line(String.format("%-16s %s", "Verifiable:", info.verifiable() ? "yes"
          : "no (no digest: a restore cannot check it)"));
    }
    return ExitCodes.OK;
  }
}
