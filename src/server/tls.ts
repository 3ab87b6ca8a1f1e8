// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface TlsCredentials {
  /** The certificate followed by its issuing chain (without the root). */
  readonly cert: string;
  readonly key: string;
  /** The certificate a client must trust to accept this server: the root CA, or the self-signed certificate itself. */
  readonly ca: string;
  /** Where the certificate came from, for the start log. */
  readonly source: string;
}

/** Makes a certificate for the host names: the PKI's function CA, or a self-signed one before there is a PKI. */
export type ServerCertificateMaker = (hostNames: readonly string[]) => Promise<{ cert: string; key: string; ca: string; kind: string }>;

/** The PKI's function CA issues the certificate: leaf and intermediates are served, the root is what clients trust. */
export function functionCaCertificateMaker(serverTls: (hostNames: readonly string[]) => Promise<{ cert: string; key: string; chain: readonly string[] }>): ServerCertificateMaker {
  return async (hostNames) => {
    const issued = await serverTls(hostNames);
    return { cert: [issued.cert, ...issued.chain.slice(0, -1)].map((pem) => `${pem.trim()}\n`).join(''), key: issued.key, ca: `${issued.chain.at(-1)!.trim()}\n`, kind: 'function CA' };
  };
}

/** Renew a little before expiry so a long-running server never serves an expired certificate. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_DAYS = 90;

/**
 * The HTTPS certificate, made once per data folder and reused while it is
 * valid, names every host and comes from the same kind of issuer.
 */
export async function loadOrCreateServerCertificate(dataDir: string, hostNames: readonly string[], make: ServerCertificateMaker, now = new Date(), folder = 'tls'): Promise<TlsCredentials> {
  const persist = dataDir !== 'memory://';
  const dir = join(dataDir, folder);
  const paths = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'server-ca.crt') };
  if (persist) {
    const existing = await readFiles(paths);
    if (existing && isUsable(existing.cert, existing.ca, hostNames, now)) return { ...existing, source: `certificate ${paths.cert}` };
  }
  const created = await make(hostNames);
  if (persist) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(paths.key, created.key, { mode: 0o600 });
    await writeFile(paths.cert, created.cert);
    await writeFile(paths.ca, created.ca);
  }
  return { cert: created.cert, key: created.key, ca: created.ca, source: `new ${created.kind} certificate${persist ? ` ${paths.cert}` : ' (in memory)'}` };
}

async function readFiles(paths: { cert: string; key: string; ca: string }): Promise<{ cert: string; key: string; ca: string } | undefined> {
  try {
    return { cert: await readFile(paths.cert, 'utf8'), key: await readFile(paths.key, 'utf8'), ca: await readFile(paths.ca, 'utf8') };
  } catch {
    return undefined;
  }
}

/** A self-signed certificate, for a system running without its PKI. */
export const selfSignedCertificate: ServerCertificateMaker = async (hostNames) => {
  const made = await createSelfSigned(hostNames, new Date());
  return { ...made, ca: made.cert, kind: 'self-signed development' };
};

function isUsable(certPem: string, caPem: string, hostNames: readonly string[], now: Date): boolean {
  try {
    const cert = new x509.X509Certificate(certPem);
    // A certificate made by another kind of issuer (self-signed before the PKI ran) is replaced.
    if (cert.issuer !== new x509.X509Certificate(caPem).subject) return false;
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

