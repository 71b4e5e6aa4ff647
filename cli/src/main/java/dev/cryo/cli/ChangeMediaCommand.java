package dev.cryo.cli;

import dev.cryo.client.CryoClient;
import dev.cryo.client.Domain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code cryo change-media}: puts a disc into a cdrom drive or ejects it, as {@code virsh
 * change-media DOMAIN TARGET [SOURCE] [--eject]} does, with virsh's answers.
 */
@Command(name = "change-media",
    description = "Insert an ISO image into a cdrom drive (replacing its disc), or eject it.")
final class ChangeMediaCommand extends DomainArgument {
  @Parameters(index = "1", paramLabel = "TARGET",
      description = "The cdrom's target dev, e.g. sda or hdc.")
  String target;

  @Parameters(index = "2", paramLabel = "SOURCE", arity = "0..1",
      description = "Absolute path of the ISO image on the server.")
  String source;

  @Option(names = "--eject", description = "Eject the disc.")
  boolean eject;

  @Override
  int run(CryoClient cryo, Output out) {
    if (eject == (source != null)) {
      throw new CliException(ExitCodes.USAGE, "give either SOURCE (an ISO image to insert) or "
          + "--eject", null);
    }
    Domain d = cryo.domains().changeMedia(domain, target, eject ? "" : source);
    if (out.json()) {
      out.json(Output.domain(d));
    } else {
      out.line(eject ? "Successfully ejected media." : "Successfully updated media.");
    }
    return ExitCodes.OK;
  }
}
