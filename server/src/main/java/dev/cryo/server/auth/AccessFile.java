package dev.cryo.server.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Who may call, read from a file the operator writes. One entry per line, {@code #} starts a
 * comment:
 *
 * <pre>
 * # kind  credential              principal  role       domains (optional, comma-separated)
 * token   sha256:9f86d081884c7d65  alice      admin
 * token   sha256:2c26b46b68ffc68f  dashboard  read-only
 * cert    CN=tenant-a             tenant-a   admin      web1,web2
 * </pre>
 *
 * <p>Tokens are stored as the SHA-256 of the bearer token (hex), never in clear: a stolen access
 * file does not give access. Make tokens long and random ({@code openssl rand -hex 32}); then a
 * plain hash is as good as a slow one. {@code cert} entries name the subject of a client
 * certificate (as {@code X500Principal.getName()} prints it, or just its {@code CN=...}).
 */
public final class AccessFile {
  private final Map<String, Principal> tokensBySha256;
  private final Map<String, Principal> certsBySubject;

  private AccessFile(Map<String, Principal> tokens, Map<String, Principal> certs) {
    this.tokensBySha256 = Map.copyOf(tokens);
    this.certsBySubject = Map.copyOf(certs);
  }

  /**
   * Reads and checks the file.
   *
   * @throws IOException naming the line of the first bad entry
   */
  public static AccessFile read(Path file) throws IOException {
    return parse(file.toString(), Files.readAllBytes(file));
  }

  /**
   * Checks and parses the content of an access file, as {@link #read} does.
   *
   * @param source where the content came from, for messages ("/etc/cryo/access")
   * @throws IOException naming the line of the first bad entry
   */
  public static AccessFile parse(String source, byte[] content) throws IOException {
    Map<String, Principal> tokens = new TreeMap<>();
    Map<String, Principal> certs = new TreeMap<>();
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(content))
          .toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IOException(source + ": not UTF-8 text", e);
    }
    List<String> lines = text.lines().toList();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).replaceFirst("#.*", "").strip();
      if (line.isEmpty()) {
        continue;
      }
      String where = source + " line " + (i + 1);
      String[] f = line.split("\\s+");
      if (f.length < 4 || f.length > 5) {
        throw new IOException(where + ": expected 'token|cert CREDENTIAL PRINCIPAL ROLE "
            + "[DOMAINS]', got " + f.length + " fields");
      }
      if (f[2].equals(Principal.LOCAL.name()) || f[2].equals(Principal.INTERNAL.name())) {
        // Audit lines and job limits would mix the caller up with the server's own names.
        throw new IOException(where + ": principal '" + f[2] + "' is a name the server keeps "
            + "for itself (local callers without an access file, its own work); choose another");
      }
      Principal p = new Principal(f[2], role(f[3], where),
          f.length == 5 ? Set.of(f[4].split(",")) : Set.of());
      switch (f[0]) {
        case "token" -> {
          if (!f[1].matches("sha256:[0-9a-fA-F]{64}")) {
            throw new IOException(where + ": a token is written as sha256:<64 hex digits> "
                + "(the SHA-256 of the token, e.g. from 'printf %s TOKEN | sha256sum')");
          }
          tokens.put(f[1].substring(7).toLowerCase(Locale.ROOT), p);
        }
        case "cert" -> certs.put(f[1], p);
        default -> throw new IOException(where + ": unknown kind '" + f[0]
            + "'; use token or cert");
      }
    }
    return new AccessFile(tokens, certs);
  }

  private static Role role(String s, String where) throws IOException {
    return switch (s) {
      case "admin" -> Role.ADMIN;
      case "read-only" -> Role.READ_ONLY;
      default -> throw new IOException(where + ": unknown role '" + s
          + "'; use admin or read-only");
    };
  }

  /** The principal holding bearer token {@code token}, compared in constant time. */
  public Optional<Principal> byToken(String token) {
    byte[] digest = sha256(token);
    Principal found = null;
    for (Map.Entry<String, Principal> e : tokensBySha256.entrySet()) {
      if (MessageDigest.isEqual(digest, HexFormat.of().parseHex(e.getKey()))) {
        found = e.getValue();
      }
    }
    return Optional.ofNullable(found);
  }

  /**
   * The principal for a client certificate subject: an entry naming the whole subject, or one
   * naming one of its relative names ({@code CN=tenant-a}).
   */
  public Optional<Principal> byCertificateSubject(String subject) {
    Principal whole = certsBySubject.get(subject);
    if (whole != null) {
      return Optional.of(whole);
    }
    Set<String> parts = new HashSet<>();
    for (String rdn : subject.split(",")) {
      parts.add(rdn.strip());
    }
    List<Principal> matches = new ArrayList<>();
    for (Map.Entry<String, Principal> e : certsBySubject.entrySet()) {
      if (parts.contains(e.getKey())) {
        matches.add(e.getValue());
      }
    }
    return matches.size() == 1 ? Optional.of(matches.get(0)) : Optional.empty();
  }

  static byte[] sha256(String token) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }
}
