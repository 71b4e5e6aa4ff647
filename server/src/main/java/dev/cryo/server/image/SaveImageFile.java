package dev.cryo.server.image;

import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/** Save image operations on a file: finishing one in place, reading its facts, editing its XML. */
public final class SaveImageFile {
  private SaveImageFile() {}

  /**
   * What a save image holds.
   *
   * @param xml the domain XML as stored
   * @param def the XML parsed
   * @param wasRunning whether the guest ran when saved
   * @param compression the payload's format
   * @param payloadOffset where the payload starts in the file
   * @param payloadBytes stored payload bytes (-1 when read from a stream of unknown length)
   * @param digest the payload's digest from the image's trailer, else from its XML; empty for an
   *     image written by libvirt or by a Cryo older than trailers
   * @param verifiable whether a restore can check the payload: it has a digest, or (read from
   *     its head) its header announces a trailer
   */
  public record Info(String xml, DomainDef def, boolean wasRunning, Compression compression,
      long payloadOffset, long payloadBytes, Optional<ImageXml.Digest> digest,
      boolean verifiable) {}

  /**
   * Makes a file written with {@code LibvirtQemudPart} whole: writes {@code xml} (which carries
   * the digest) into the XML area, syncs, flips the magic to {@code LibvirtQemudSave}, syncs.
   */
  public static void complete(FileChannel file, SaveImageHeader header, String xml)
      throws IOException {
    writeXml(file, header, xml);
    file.force(true);
    writeFully(file, ByteBuffer.wrap(SaveImageHeader.MAGIC), SaveImageHeader.MAGIC_OFFSET);
    file.force(true);
  }

  /** Reads the facts of the image at {@code path} (header and XML; the payload is not read). */
  public static Info info(Path path) throws IOException {
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        InputStream in = new BufferedInputStream(Channels.newInputStream(ch), 128 * 1024)) {
      SaveImageReader r = SaveImageReader.open(in);
      long offset = r.header().payloadOffset();
      Optional<ImageXml.Digest> digest = trailer(ch, r.header()).map(ImageTrailer::digest)
          .or(r::storedDigest);
      return new Info(r.xml(), r.parsed().def(), r.header().wasRunning(),
          r.header().compression(), offset, ch.size() - offset, digest, digest.isPresent());
    }
  }

  /**
   * The digest trailer at the end of the image file at {@code path}, found from its last few KiB.
   *
   * @throws dev.cryo.server.error.DataLossException if the header announces one that is not there
   */
  public static Optional<ImageTrailer> trailer(Path path, SaveImageHeader header)
      throws IOException {
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      return trailer(ch, header);
    }
  }

  private static Optional<ImageTrailer> trailer(FileChannel ch, SaveImageHeader header)
      throws IOException {
    long payload = Math.max(0, ch.size() - header.payloadOffset());
    ByteBuffer tail = ByteBuffer.allocate((int) Math.min(ImageTrailer.MAX_UNIT_BYTES, payload));
    readFully(ch, tail, header.payloadOffset() + payload - tail.capacity());
    Optional<ImageTrailer> t = ImageTrailer.find(header.compression(), tail.array(), payload);
    if (t.isEmpty() && header.trailer()) {
      throw new CryoException(
          Reason.IMAGE_TRUNCATED,
          "the save image announces a digest "
              + "trailer but its payload does not end with one: the image is truncated or corrupt");
    }
    return t;
  }

  /**
   * Replaces the domain XML of the image at {@code path} in place, like libvirt's {@code
   * virDomainSaveImageDefineXML}. The new XML must describe the same domain (name and UUID);
   * the integrity record of the old XML is kept.
   *
   * @return the XML as stored
   * @throws InvalidArgumentException if the XML is not a domain, names another domain, or does
   *     not fit in the image's XML area
   */
  public static String updateXml(Path path, String newXml) throws IOException {
    Info info = info(path);
    DomainDef def = ImageXml.withoutDigest(ImageXml.parse(newXml).def());
    if (!def.getName().equals(info.def().getName())
        || !def.getUuid().equalsIgnoreCase(info.def().getUuid())) {
      throw new InvalidArgumentException("the new XML describes domain '" + def.getName() + "' ("
          + def.getUuid() + ") but the image holds '" + info.def().getName() + "' ("
          + info.def().getUuid() + "); name and UUID must not change");
    }
    String stored = info.digest().isPresent() ? ImageXml.withDigest(def, info.digest().get())
        : dev.cryo.server.domain.DomainXml.format(def);
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      ByteBuffer head = ByteBuffer.allocate(SaveImageHeader.SIZE);
      readFully(ch, head, 0);
      SaveImageHeader header = SaveImageHeader.decode(head.array());
      writeXml(ch, header, stored);
      ch.force(true);
    }
    return stored;
  }

  private static void writeXml(FileChannel file, SaveImageHeader header, String xml)
      throws IOException {
    byte[] bytes = SaveImageWriter.xmlBytes(xml);
    int room = header.cookieOffset() > 0 ? header.cookieOffset() : header.dataLen();
    if (bytes.length > room) {
      throw new InvalidArgumentException("the new XML takes " + bytes.length + " bytes but the "
          + "image has room for " + room + "; shorten it (the room was fixed when the image was "
          + "saved)");
    }
    ByteBuffer buf = ByteBuffer.allocate(room);
    buf.put(bytes);
    buf.position(0);
    writeFully(file, buf, SaveImageHeader.SIZE);
  }

  public static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
    long pos = position;
    while (buf.hasRemaining()) {
      pos += ch.write(buf, pos);
    }
  }

  static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
    long pos = position;
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos);
      if (n < 0) {
        throw new CryoException(Reason.IMAGE_TRUNCATED, "save image truncated in the header");
      }
      pos += n;
    }
  }
}
