package dev.cryo.conformance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates made at test time with {@code openssl}: a CA, a server certificate for
 * 127.0.0.1, and client certificates signed by that CA or by a second, untrusted one.
 */
final class TestCerts {
  final Path dir;

  private TestCerts(Path dir) {
    this.dir = dir;
  }

  static TestCerts create(Path dir) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    // Private keys: the server refuses a TLS key that its QEMU user could read.
    Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString(
        "rwx------"));
    TestCerts c = new TestCerts(dir);
    c.ca("ca");
    c.ca("rogue-ca");
    c.leaf("server", "ca", "CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    c.leaf("ops", "ca", "CN=ops", null);
    c.leaf("tenant-a", "ca", "CN=tenant-a", null);
    c.leaf("intruder", "rogue-ca", "CN=ops", null);
    c.leaf("server-renewed", "rogue-ca", "CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost");
    return c;
  }

  Path cert(String name) {
    return dir.resolve(name + ".pem");
  }

  Path key(String name) {
    return dir.resolve(name + ".key");
  }

  private void ca(String name) throws IOException, InterruptedException {
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=" + name, "-keyout", key(name).toString(), "-out", cert(name).toString());
  }

  private void leaf(String name, String ca, String subject, String san)
      throws IOException, InterruptedException {
    Path rawKey = dir.resolve(name + ".rsa");
    Path csr = dir.resolve(name + ".csr");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/" + subject.replace(",", "/"),
        "-keyout", rawKey.toString(), "-out", csr.toString());
    List<String> sign = new ArrayList<>(List.of("x509", "-req", "-in", csr.toString(),
        "-CA", cert(ca).toString(), "-CAkey", key(ca).toString(), "-CAcreateserial",
        "-days", "2", "-out", cert(name).toString()));
    if (san != null) {
      Path ext = Files.writeString(dir.resolve(name + ".ext"), san + "\n");
      sign.addAll(List.of("-extfile", ext.toString()));
    }
    openssl(sign.toArray(String[]::new));
    // gRPC wants PKCS#8 keys.
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", rawKey.toString(), "-out", key(name).toString());
  }

  private void openssl(String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>();
    argv.add("openssl");
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
    }
  }
}
