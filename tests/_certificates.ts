/**
 * Certificates for the TLS tests, made with openssl: a self-signed server certificate for
 * 127.0.0.1 ({@link selfSigned}), a test's own CAs ({@link root}) and certificates they sign
 * ({@link signed}), all on new P-256 keys and valid for a day.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The `openssl req` options for a new unencrypted P-256 key. */
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Runs `openssl` with `args` and returns its stdout; fails with its stderr. */
export async function openssl(args: readonly string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(`cannot run openssl (apt-get install -y openssl): ${e}`);
  }
  assert.ok(out.success, `openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** A certificate and its key, as the paths of their PEM files. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** Writes a self-signed certificate for `subject` to `cert`, `key`, `extensions` its options. */
async function selfSignedTo(
  subject: string,
  cert: string,
  key: string,
  extensions: readonly string[],
): Promise<void> {
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-subj",
    subject,
    ...extensions,
    "-days",
    "1",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
}

/**
 * A self-signed certificate for IP 127.0.0.1 in `dir` (cert.pem, key.pem), as the `certificate`
 * and `key` of an endpoint's `tls`. `CA:FALSE` is needed by Deno's client (rustls/webpki refuses
 * a certificate marked as a CA as the server's own certificate: `CaUsedAsEndEntity`); OpenSSL's
 * `req -x509` marks it CA:TRUE by default.
 */
export async function selfSigned(dir: string): Promise<{ certificate: string; key: string }> {
  const certificate = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  await selfSignedTo("/CN=127.0.0.1", certificate, key, [
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
  ]);
  return { certificate, key };
}

/**
 * A self-signed (root) certificate with subject `CN=name`: `dir/name.pem` and `dir/name.key`.
 * `extensions`: the `openssl req` options that give it its extensions (`-addext`, or
 * `-extensions` with a `-config`).
 */
export async function root(
  dir: string,
  name: string,
  extensions: readonly string[],
): Promise<CertFiles> {
  const cert = `${dir}/${name}.pem`;
  const key = `${dir}/${name}.key`;
  await selfSignedTo(`/CN=${name}`, cert, key, extensions);
  return { cert, key };
}

/**
 * A certificate with subject `CN=name` signed by `issuer`, with the extensions `ext` (the lines
 * of an openssl extension file): `dir/name.pem` and `dir/name.key` (and its `.ext`, `.csr`).
 */
export async function signed(
  dir: string,
  name: string,
  issuer: CertFiles,
  ext: string,
): Promise<CertFiles> {
  const cert = `${dir}/${name}.pem`;
  const key = `${dir}/${name}.key`;
  const extFile = `${dir}/${name}.ext`;
  const csr = `${dir}/${name}.csr`;
  await Deno.writeTextFile(extFile, ext);
  await openssl(["req", ...EC, "-subj", `/CN=${name}`, "-keyout", key, "-out", csr]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    issuer.cert,
    "-CAkey",
    issuer.key,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    extFile,
    "-out",
    cert,
  ]);
  return { cert, key };
}
