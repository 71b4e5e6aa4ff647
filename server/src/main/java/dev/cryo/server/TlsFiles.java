package dev.cryo.server;

import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.grpc.util.CertificateUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's TLS files (key, certificate chain, client CA), re-read by Cryo itself and handed
 * to grpc-java's key and trust managers, which every new handshake asks afresh.
 *
 * <p>Why not the managers' own {@code update*FromFile(..., period, ...)}: in grpc-java 1.68 they
 * silently raise any period under one minute to one minute (logged at FINE only), which is why
 * a renewed certificate used to take about 60 s whatever {@code --tls-reload-seconds} said; and
 * the key manager reloads only when both files' modification times changed, so a renewal that
 * keeps its key ({@code certbot --reuse-key}) was never served. Here change is detected by
 * content, the new key is checked to match the new certificate before either is used (a renewal
 * caught half-way keeps the old pair), and a bad file is logged once and the old pair kept.
 *
 * <p>Thread-safe: {@link #reload()} is serialized on this object.
 */
final class TlsFiles {
  private static final Logger log = LoggerFactory.getLogger(TlsFiles.class);

  private final ServerConfig.Tls tls;
  private final AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
  private final AdvancedTlsX509TrustManager trust;
  /** Guarded by this: hash of the files in force, and of the last ones refused. */
  private byte[] appliedHash;
  private byte[] rejectedHash;

  /**
   * Reads the files for the first time.
   *
   * @throws IOException if one cannot be read or used, naming it
   */
  TlsFiles(ServerConfig.Tls tls) throws IOException {
    this.tls = tls;
    try {
      this.trust = tls.clientCa() == null ? null : AdvancedTlsX509TrustManager.newBuilder()
          .setVerification(AdvancedTlsX509TrustManager.Verification
              .CERTIFICATE_ONLY_VERIFICATION)
          .build();
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot set up client certificate checks: " + e, e);
    }
    byte[][] contents = readAll();
    apply(contents);
    appliedHash = hash(contents);
  }

  AdvancedTlsX509KeyManager keyManager() {
    return keys;
  }

  /** The manager checking client certificates, or null when none are asked for. */
  AdvancedTlsX509TrustManager trustManager() {
    return trust;
  }

  /**
   * Re-reads the files and, if they changed and are usable, serves them from the next handshake
   * on. Never throws: a bad or unreadable set is logged and the old one kept.
   *
   * @return whether new files came into use
   */
  synchronized boolean reload() {
    byte[][] contents;
    try {
      contents = readAll();
    } catch (IOException e) {
      log.error("cannot re-read the TLS files: {}; still serving the previous ones",
          e.getMessage());
      return false;
    }
    byte[] hash = hash(contents);
    if (Arrays.equals(hash, appliedHash) || Arrays.equals(hash, rejectedHash)) {
      return false;
    }
    try {
      apply(contents);
    } catch (IOException e) {
      rejectedHash = hash;
      log.error("not reloading the TLS files: {}; still serving the previous ones",
          e.getMessage());
      return false;
    }
    appliedHash = hash;
    rejectedHash = null;
    log.info("TLS files reloaded: now serving {}", tls.certChain());
    return true;
  }

  private byte[][] readAll() throws IOException {
    return new byte[][] {read(tls.privateKey()), read(tls.certChain()),
        tls.clientCa() == null ? new byte[0] : read(tls.clientCa())};
  }

  private static byte[] read(Path file) throws IOException {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new IOException("cannot read " + file + ": " + e, e);
    }
  }

  private void apply(byte[][] contents) throws IOException {
    PrivateKey key;
    try {
      key = CertificateUtils.getPrivateKey(new ByteArrayInputStream(contents[0]));
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      throw new IOException(tls.privateKey() + " is not a PKCS#8 PEM private key: " + e, e);
    }
    X509Certificate[] chain = certificates(contents[1], tls.certChain());
    requireMatch(key, chain[0].getPublicKey());
    X509Certificate[] cas = trust == null ? null : certificates(contents[2], tls.clientCa());
    try {
      if (trust != null) {
        trust.updateTrustCredentials(cas);
      }
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot use the client CA " + tls.clientCa() + ": " + e, e);
    }
    keys.updateIdentityCredentials(key, chain);
  }

  private static X509Certificate[] certificates(byte[] pem, Path file) throws IOException {
    X509Certificate[] certs;
    try {
      certs = CertificateUtils.getX509Certificates(new ByteArrayInputStream(pem));
    } catch (GeneralSecurityException | RuntimeException e) {
      throw new IOException(file + " is not a PEM certificate chain: " + e, e);
    }
    if (certs.length == 0) {
      throw new IOException(file + " holds no PEM certificate");
    }
    return certs;
  }

  /** Signs a random challenge with the key and checks it with the certificate's public key. */
  private void requireMatch(PrivateKey key, PublicKey certified) throws IOException {
    String algorithm = switch (key.getAlgorithm()) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      default -> null;
    };
    if (algorithm == null) {
      return; // Unknown kind: the handshake will tell.
    }
    try {
      byte[] challenge = new byte[32];
      new SecureRandom().nextBytes(challenge);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(challenge);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(certified);
      verifier.update(challenge);
      if (verifier.verify(signature)) {
        return;
      }
    } catch (GeneralSecurityException e) {
      // A key of another kind than the certificate's: no match.
    }
    throw new IOException("the private key " + tls.privateKey() + " does not belong to the "
        + "certificate in " + tls.certChain() + " (a renewal written half-way?)");
  }

  private static byte[] hash(byte[][] contents) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (byte[] c : contents) {
        sha.update(MessageDigest.getInstance("SHA-256").digest(c));
      }
      return sha.digest();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }
}
