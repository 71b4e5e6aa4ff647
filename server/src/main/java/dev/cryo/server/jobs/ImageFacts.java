package dev.cryo.server.jobs;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import dev.cryo.server.image.ImageTrailer;
import dev.cryo.server.image.ImageXml;
import dev.cryo.server.image.SaveImageFile;
import dev.cryo.server.image.SaveImageHeader;
import dev.cryo.server.image.SaveImageReader;
import dev.cryo.server.image.SaveImageWriter;
import dev.cryo.server.store.ObjectStore;
import dev.cryo.server.xml.SecureXml;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * The facts of a save image wherever it is (a server file, an object, the first bytes a client
 * sent) and the replacement of a file's XML, each for a caller who sees the image's domain; and
 * that rule itself, which restores follow too: an image of a domain the caller does not see does
 * not exist for it (NOT_FOUND).
 */
public final class ImageFacts {
  /** The server's object store, or null if it has none. */
  private final ObjectStore objects;

  ImageFacts(ObjectStore objects) {
    this.objects = objects;
  }

  /**
   * The facts of an image file.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public SaveImageFile.Info info(Principal caller, Path path) {
    requireSeesImageAt(caller, path);
    try {
      return SaveImageFile.info(path);
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }

  /**
   * The facts of an image from its first bytes: its digest only if its XML records one (the
   * trailer is at the end), verifiable if either is there.
   */
  public SaveImageFile.Info info(byte[] head) {
    try {
      SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(head));
      return new SaveImageFile.Info(r.xml(), r.parsed().def(), r.header().wasRunning(),
          r.header().compression(), r.header().payloadOffset(), 0, r.storedDigest(),
          r.header().trailer() || r.storedDigest().isPresent());
    } catch (IOException e) {
      throw new InternalException("could not read the image head", e);
    }
  }

  /**
   * The facts of the image object {@code loc}, from two ranged GETs: its header and XML, and
   * its last few KiB for the digest trailer. The payload is not read.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public SaveImageFile.Info info(Principal caller, ObjectStore.Location loc) {
    ObjectStore store = ImageJobs.require(objects);
    ObjectStore.Range head = store.range(loc, 0,
        SaveImageHeader.SIZE + SaveImageWriter.XML_PADDING + 64 * 1024 - 1);
    try {
      SaveImageHeader header = SaveImageHeader.decode(
          Arrays.copyOf(head.bytes(), SaveImageHeader.SIZE));
      byte[] bytes = head.bytes();
      if (bytes.length < header.payloadOffset() && head.objectBytes() > bytes.length) {
        bytes = store.range(loc, 0, header.payloadOffset() - 1).bytes();
      }
      SaveImageReader r = SaveImageReader.open(new ByteArrayInputStream(bytes));
      requireSees(caller, r);
      long offset = header.payloadOffset();
      long payload = Math.max(0, head.objectBytes() - offset);
      int tailBytes = (int) Math.min(ImageTrailer.MAX_UNIT_BYTES, payload);
      Optional<ImageTrailer> trailer = Optional.empty();
      if (tailBytes > 0) {
        byte[] tail = store.range(loc, head.objectBytes() - tailBytes,
            head.objectBytes() - 1).bytes();
        trailer = ImageTrailer.find(header.compression(), tail, payload);
      }
      if (trailer.isEmpty() && header.trailer()) {
        throw new CryoException(Reason.IMAGE_TRUNCATED, "the image object " + loc.uri()
            + " announces a digest trailer but does not end with one: it is truncated or "
            + "corrupt");
      }
      Optional<ImageXml.Digest> digest = trailer.map(ImageTrailer::digest).or(r::storedDigest);
      return new SaveImageFile.Info(r.xml(), r.parsed().def(), header.wasRunning(),
          header.compression(), offset, payload, digest, digest.isPresent());
    } catch (IOException e) {
      throw new InternalException("could not read " + loc.uri() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Replaces the XML of the image file at {@code path}; returns the XML as stored.
   *
   * @throws NotFoundException if the image holds a domain {@code caller} does not see
   */
  public String updateXml(Principal caller, Path path, String xml) {
    requireSeesImageAt(caller, path);
    try {
      return SaveImageFile.updateXml(path, xml);
    } catch (IOException e) {
      throw new InternalException("could not update " + path + ": " + e.getMessage(), e);
    }
  }

  // ---- whose image -------------------------------------------------------------------------

  /**
   * Refuses an image whose domain {@code caller} does not see, as NOT_FOUND: for this caller the
   * image does not exist, whether or not its domain does here. An image that names no domain
   * is refused to every caller restricted to some domains.
   */
  static void requireSees(Principal caller, SaveImageReader reader) {
    String imageDomain = imageDomainName(reader);
    if (imageDomain == null ? !caller.domains().isEmpty() : !caller.sees(imageDomain)) {
      throw new CryoException(
          Reason.IMAGE_NOT_FOUND, "no save image of a domain you may use there");
    }
  }

  /**
   * The name of the domain in an image's own XML, even where Cryo cannot run that XML (a libvirt
   * device it does not model); null if the XML names none.
   */
  private static String imageDomainName(SaveImageReader reader) {
    try {
      return reader.parsed().def().getName();
    } catch (CryoException e) {
      try {
        return SecureXml.unmarshal(reader.xml(), DomainDef.class, "domain").getName();
      } catch (CryoException unreadable) {
        return null;
      }
    }
  }

  private static void requireSeesImageAt(Principal caller, Path path) {
    if (caller.domains().isEmpty()) {
      return;
    }
    try (InputStream in = new BufferedInputStream(Files.newInputStream(path), 128 * 1024);
        SaveImageReader reader = SaveImageReader.open(in)) {
      requireSees(caller, reader);
    } catch (IOException e) {
      throw new InternalException("could not read " + path + ": " + e.getMessage(), e);
    }
  }
}
