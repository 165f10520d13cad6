/**
 * The proxy's TLS identity: a certificate from the config, or, for local use, a self-signed
 * one created on first start and kept in the state directory (key mode 0600). Clients that
 * verify (sslmode=verify-full) pass the certificate file as their root.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
}

const VALIDITY_DAYS = 825;

export async function loadOrCreateSelfSigned(dir: string, hostnames: readonly string[]): Promise<CertificatePair> {
  const certFile = join(dir, 'proxy.crt');
  const keyFile = join(dir, 'proxy.key');
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { cert, key } = selfSignedCertificate(hostnames);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, key, { mode: 0o600 });
  await writeFile(certFile, cert, { mode: 0o644 });
  return { cert, key, certFile };
}

/**
 * What is wrong with a PEM certificate and key given as text (WARDEN_TLS_CERT, WARDEN_TLS_KEY),
 * or undefined when the certificate parses, the key parses and the key is the certificate's.
 * The reasons never quote the values.
 */
export function certificatePairProblem(cert: string, key: string): { readonly part: 'cert' | 'key'; readonly reason: string } | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    return { part: 'cert', reason: 'is not a PEM certificate (-----BEGIN CERTIFICATE-----)' };
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return { part: 'key', reason: 'is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)' };
  }
  if (!certificate.checkPrivateKey(privateKey)) return { part: 'key', reason: 'is not the private key of the certificate in WARDEN_TLS_CERT' };
  return undefined;
}

/** An RSA-2048 certificate for `hostnames` (DNS names and IP addresses), signed by its own key with SHA-256. */
export function selfSignedCertificate(hostnames: readonly string[]): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // RFC 5280 §4.1.2.2: a positive serial number of at most 20 octets.
  certificate.serialNumber = `01${randomBytes(15).toString('hex')}`;
  certificate.validity.notBefore = new Date(Date.now() - 60_000);
  certificate.validity.notAfter = new Date(Date.now() + VALIDITY_DAYS * 86_400_000);
  const subject = [{ name: 'commonName', value: hostnames[0] ?? 'localhost' }, { name: 'organizationName', value: 'Warden (self-signed, local)' }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hostnames.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
  ]);
  certificate.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(certificate), key: privateKey };
}
