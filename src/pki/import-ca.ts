import 'reflect-metadata';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Database } from '../store/index.ts';
import type { KeyAlgorithmName } from './config.ts';
import { CA_IDS, PkiSetupError, type CaId } from './hierarchy.ts';
import { encryptPrivateKey, signingParams, webCrypto } from './keys.ts';
import { Pkcs12Error, readPkcs12 } from './pkcs12.ts';

/** An import that cannot go ahead; the message says which rule it broke and never carries key material. */
export class CaImportRefused extends PkiSetupError {}

/** A CA certificate and key PEM is a few kilobytes; anything this large is not one. */
const MAX_PEM_BYTES = 256 * 1024;
const KEY_CERT_SIGN = x509.KeyUsageFlags.keyCertSign;
const CRL_SIGN = x509.KeyUsageFlags.cRLSign;
/** Roots have children here that their generated key signed, so only the CAs that sign end-entity certificates can be replaced. */
const IMPORTABLE: readonly CaId[] = CA_IDS.filter((id) => id !== 'root' && id !== 'test-root');
const HIERARCHY_LOCK = 7_342_114_100;
/** What the system issues itself at every start (OCSP responder, HTTPS server): these do not hold a CA back from being replaced. */
const SYSTEM_PROFILES = ['ocsp-signer', 'server-tls'] as const;

export interface CaImport {
  readonly id: string;
  readonly certificatePem: string;
  /** PKCS#8 (plain or encrypted), PKCS#1 or SEC 1 PEM. */
  readonly privateKeyPem: string;
  /** Opens an encrypted `privateKeyPem`. */
  readonly privateKeyPassphrase?: string;
}

/**
 * Bring your own CA: an organisation's existing issuing CA takes the place of
 * a generated one, before that CA has issued anything. The key is stored
 * encrypted under the installation's passphrase like every other CA key.
 * Running nodes pick it up at their next start.
 */
export async function importCa(db: Database, request: CaImport, passphrase: string, now: Date): Promise<{ id: CaId; subject: string; algorithm: KeyAlgorithmName }> {
  const id = checkImportableId(request.id);
  const certificate = readCaCertificate(request.certificatePem, now);
  const key = readPrivateKey(request.privateKeyPem, request.privateKeyPassphrase);
  const algorithm = keyAlgorithm(key);
  checkKeyMatches(key, certificate);
  const encrypted = await encryptPrivateKey(await asCryptoKey(key, algorithm), passphrase);
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [HIERARCHY_LOCK]);
    const [issued] = await tx.query<{ n: number }>(`select count(*)::int as n from pki_certificates where ca_id = $1 and profile not in (${SYSTEM_PROFILES.map((p) => `'${p}'`).join(', ')})`, [id]);
    if ((issued?.n ?? 0) > 0) throw new CaImportRefused(`CA ${id} has already issued ${issued!.n} certificate(s); a CA can only be replaced before it issues`);
    const updated = await tx.query('update pki_cas set parent_id = null, algorithm = $2, certificate_der = $3, encrypted_key_pem = $4, imported = true where id = $1 returning id', [
      id,
      algorithm,
      new Uint8Array(certificate.rawData),
      encrypted,
    ]);
    if (updated.length === 0) throw new CaImportRefused(`CA ${id} does not exist yet: start Tillit once to create the hierarchy, then import`);
    // The old responder was certified by the replaced key; a new one is issued at the next start.
    await tx.query('delete from pki_ocsp_responders where ca_id = $1', [id]);
    await tx.query(`insert into pki_events (action, ca_id, actor, details) values ('ca-imported', $1, 'system', $2)`, [id, JSON.stringify({ subject: certificate.subject, serialNumber: certificate.serialNumber })]);
  });
  return { id, subject: certificate.subject, algorithm };
}

/** The same import from a PKCS#12 file: its key, and the certificate that key belongs to. */
export async function caImportFromPkcs12(id: string, der: Uint8Array, password: string): Promise<CaImport> {
  let contents: Awaited<ReturnType<typeof readPkcs12>>;
  try {
    contents = await readPkcs12(der, password);
  } catch (error) {
    if (error instanceof Pkcs12Error) throw new CaImportRefused(error.message);
    throw error;
  }
  const spki = createPublicKey(contents.privateKey).export({ type: 'spki', format: 'der' });
  const own = contents.certificates.map((raw) => new x509.X509Certificate(raw)).find((certificate) => spki.equals(Buffer.from(certificate.publicKey.rawData)));
  if (!own) throw new CaImportRefused('the PKCS#12 file holds no certificate for its private key');
  // The key stays in memory, unencrypted only until importCa encrypts it under the installation's passphrase.
  return { id, certificatePem: own.toString('pem'), privateKeyPem: contents.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function checkImportableId(id: string): CaId {
  if (!(IMPORTABLE as readonly string[]).includes(id)) throw new CaImportRefused(`CA '${id}' cannot be imported; one of: ${IMPORTABLE.join(', ')}`);
  return id as CaId;
}

/** The first certificate of the PEM (a chain after it is ignored): a CA that may sign certificates and CRLs, valid now. */
export function readCaCertificate(pem: string, now: Date): x509.X509Certificate {
  if (pem.length > MAX_PEM_BYTES) throw new CaImportRefused(`the certificate file is larger than ${MAX_PEM_BYTES} bytes`);
  let certificate: x509.X509Certificate;
  try {
    const [first] = x509.PemConverter.decode(pem);
    if (!first || !/-----BEGIN CERTIFICATE-----/.test(pem)) throw new Error('no certificate');
    certificate = new x509.X509Certificate(first);
  } catch {
    throw new CaImportRefused('the certificate is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)');
  }
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new CaImportRefused('the certificate is not a CA certificate (basicConstraints cA is not true)');
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (!usage || (usage.usages & (KEY_CERT_SIGN | CRL_SIGN)) !== (KEY_CERT_SIGN | CRL_SIGN)) throw new CaImportRefused('the CA certificate must allow keyCertSign and cRLSign in keyUsage');
  if (certificate.notBefore > now || certificate.notAfter <= now) throw new CaImportRefused(`the CA certificate is not valid now (${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`);
  return certificate;
}

function readPrivateKey(pem: string, passphrase: string | undefined): KeyObject {
  if (pem.length > MAX_PEM_BYTES) throw new CaImportRefused(`the key file is larger than ${MAX_PEM_BYTES} bytes`);
  if (/ENCRYPTED/.test(pem) && !passphrase) throw new CaImportRefused('the private key is encrypted: give its passphrase');
  try {
    return createPrivateKey({ key: pem, format: 'pem', ...(passphrase ? { passphrase } : {}) });
  } catch {
    throw new CaImportRefused('the private key cannot be read: not a PEM private key, or a wrong passphrase');
  }
}

/** Only the algorithms the hierarchy itself may use. */
export function keyAlgorithm(key: KeyObject): KeyAlgorithmName {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (details?.namedCurve === 'secp384r1') return 'ecdsa-p384';
    throw new CaImportRefused(`EC curve ${details?.namedCurve ?? 'unknown'} is not allowed (P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
    throw new CaImportRefused(`RSA ${bits ?? '?'}-bit keys are not allowed (2048, 3072 or 4096)`);
  }
  throw new CaImportRefused(`${key.asymmetricKeyType ?? 'unknown'} keys are not allowed (ECDSA P-256/P-384 or RSA 2048–4096)`);
}

function checkKeyMatches(key: KeyObject, certificate: x509.X509Certificate): void {
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(Buffer.from(certificate.publicKey.rawData))) throw new CaImportRefused('the private key does not belong to the certificate');
}

/** The stored form goes through WebCrypto like generated keys, so both are encrypted the same way. */
async function asCryptoKey(key: KeyObject, algorithm: KeyAlgorithmName): Promise<CryptoKey> {
  const params = signingParams(algorithm);
  return webCrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), params.generate.name === 'ECDSA' ? params.generate : params.sign, true, ['sign']);
}
