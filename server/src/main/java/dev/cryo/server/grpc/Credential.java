package dev.cryo.server.grpc;

import dev.cryo.server.auth.AccessFile;
import dev.cryo.server.auth.Principal;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * What a call presented to prove who it is: its TLS client certificate subject, else its bearer
 * token, looked up for {@link AuthInterceptor}, and kept for the length of a call so that
 * the audit log can name the principal and a reload of the access file can be checked against
 * each running call. {@link #toString()} never shows a token.
 */
final class Credential {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final String BEARER = "Bearer ";

  private final String certificateSubject;
  private final String token;

  private Credential(String certificateSubject, String token) {
    this.certificateSubject = certificateSubject;
    this.token = token;
  }

  /** The call's credential; an empty one (that resolves to nobody) if it sent none. */
  static Credential of(ServerCall<?, ?> call, Metadata headers) {
    String subject = null;
    SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session != null) {
      try {
        Certificate[] chain = session.getPeerCertificates();
        if (chain.length > 0 && chain[0] instanceof X509Certificate cert) {
          subject = cert.getSubjectX500Principal().getName();
        }
      } catch (SSLPeerUnverifiedException e) {
        // No client certificate: a token may follow.
      }
    }
    String value = headers.get(AUTHORIZATION);
    String token = value != null && value.startsWith(BEARER)
        ? value.substring(BEARER.length()).strip() : null;
    return new Credential(subject, token);
  }

  /** Who this credential is in {@code access}: certificate first, then token. */
  Optional<Principal> resolve(AccessFile access) {
    Optional<Principal> p = certificateSubject == null ? Optional.empty()
        : access.byCertificateSubject(certificateSubject);
    return p.isPresent() || token == null ? p : access.byToken(token);
  }

  @Override
  public String toString() {
    return certificateSubject != null ? "certificate " + certificateSubject
        : token != null ? "bearer token" : "none";
  }
}
