// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
  /** Where the certificate came from, for the start log. */
  readonly source: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_DAYS = 90;
/** Renew a little before expiry so a long-running dev server never serves an expired certificate. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/**
 * A self-signed certificate for development, made once per data folder and
 * reused while valid and matching the host names. Until the PKI part issues
 * the server's certificate from the function CA, this is what HTTPS serves.
 */
export async function loadOrCreateDevCertificate(dataDir: string, hostNames: readonly string[], now = new Date()): Promise<TlsCredentials> {
  const persist = dataDir !== 'memory://';
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'dev-server.crt');
  const keyPath = join(dir, 'dev-server.key');
  if (persist) {
    const existing = await readPair(certPath, keyPath);
    if (existing && isUsable(existing.cert, hostNames, now)) return { ...existing, source: `development certificate ${certPath}` };
  }
  const created = await createSelfSigned(hostNames, now);
  if (persist) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(keyPath, created.key, { mode: 0o600 });
    await writeFile(certPath, created.cert);
  }
  return { ...created, source: persist ? `new development certificate ${certPath}` : 'new in-memory development certificate' };
}

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch {
    return undefined;
  }
}

function isUsable(certPem: string, hostNames: readonly string[], now: Date): boolean {
  try {
    const cert = new x509.X509Certificate(certPem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = new Set(san?.names.items.map((n) => n.value) ?? []);
    return cert.notAfter.getTime() - RENEW_BEFORE_MS > now.getTime() && hostNames.every((h) => names.has(h));
  } catch {
    return false;
  }
}

async function createSelfSigned(hostNames: readonly string[], now: Date): Promise<{ cert: string; key: string }> {
  const crypto = webcrypto as unknown as Crypto;
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      // 128 random bits with the top bit cleared: a positive serial as RFC 5280 requires.
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, (d) => (parseInt(d, 16) - 8).toString(16)),
      name: 'CN=Tillit development server, O=Tillit development',
      notBefore,
      notAfter: new Date(notBefore.getTime() + VALIDITY_DAYS * 24 * 3600 * 1000),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(hostNames.map((h): x509.JsonGeneralName => ({ type: isIP(h) ? 'ip' : 'dns', value: h }))),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** Host names the server answers to: the public URL's host plus loopback names. */
export function serverHostNames(publicBaseUrl: string): string[] {
  const host = new URL(publicBaseUrl).hostname.replace(/^\[|\]$/g, '');
  return [...new Set([host, 'localhost', '127.0.0.1', '::1'])];
}
