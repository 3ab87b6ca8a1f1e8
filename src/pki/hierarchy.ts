import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { Queryable } from '../store/index.ts';
import type { KeyAlgorithmName, PkiConfig } from './config.ts';
import { decryptPrivateKey, encryptPrivateKey, generateKeyPair, signingParams, softwareSigner, webCrypto, type Signer } from './keys.ts';
import { randomSerial } from './serial.ts';

/** The CAs, parents before children. Test cards chain to a root of their own, which production never trusts. */
export const CA_IDS = ['root', 'person-hsa-loa3', 'person-pnr-loa3', 'mobile', 'person-hsa-loa2', 'person-pnr-loa2', 'function', 'test-root', 'test'] as const;
export type CaId = (typeof CA_IDS)[number];

const PARENT: Record<CaId, CaId | null> = {
  root: null,
  'person-hsa-loa3': 'root',
  'person-pnr-loa3': 'root',
  mobile: 'root',
  'person-hsa-loa2': 'root',
  'person-pnr-loa2': 'root',
  function: 'root',
  'test-root': null,
  test: 'test-root',
};

const ISSUING_CONFIG_KEY: Partial<Record<CaId, keyof PkiConfig['issuing']>> = {
  'person-hsa-loa3': 'personHsaLoa3',
  'person-pnr-loa3': 'personPnrLoa3',
  mobile: 'mobile',
  'person-hsa-loa2': 'personHsaLoa2',
  'person-pnr-loa2': 'personPnrLoa2',
  function: 'function',
};

export function isCaId(value: string): value is CaId {
  return (CA_IDS as readonly string[]).includes(value);
}

export function caSettings(config: PkiConfig, id: CaId): { name: string; algorithm: KeyAlgorithmName; validityYears: number } {
  if (id === 'root') return config.root;
  if (id === 'test-root') return config.testRoot;
  if (id === 'test') return config.test;
  return config.issuing[ISSUING_CONFIG_KEY[id]!];
}

export interface LoadedCa {
  readonly id: CaId;
  readonly parentId: CaId | null;
  readonly certificate: x509.X509Certificate;
  readonly der: Uint8Array;
  readonly signer: Signer;
  readonly imported: boolean;
}

/** URLs every certificate carries, all on the plain-HTTP server. */
export function caUrls(plainBaseUrl: string, id: CaId) {
  return { crl: `${plainBaseUrl}/crl/${id}.crl`, caIssuers: `${plainBaseUrl}/ca/${id}.crt`, ocsp: `${plainBaseUrl}/ocsp` };
}

export class PkiSetupError extends Error {
  override readonly name = 'PkiSetupError';
}

/**
 * The passphrase that encrypts CA keys: from config, or made once and kept
 * beside the embedded data (mode 0600) so a demo needs no setup. In memory
 * for an in-memory installation.
 */
export async function keyPassphrase(config: PkiConfig, dataDir: string): Promise<{ passphrase: string; source: string }> {
  if (config.keyPassphrase) return { passphrase: config.keyPassphrase, source: 'pki.keyPassphrase' };
  if (dataDir === 'memory://') return { passphrase: randomBytes(32).toString('base64url'), source: 'generated in memory' };
  const file = join(dataDir, 'pki', 'passphrase');
  try {
    return { passphrase: (await readFile(file, 'utf8')).trim(), source: file };
  } catch {
    await mkdir(join(dataDir, 'pki'), { recursive: true, mode: 0o700 });
    const passphrase = randomBytes(32).toString('base64url');
    await writeFile(file, passphrase, { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    await chmod(file, 0o600);
    return { passphrase: (await readFile(file, 'utf8')).trim(), source: `${file} (new)` };
  }
}

const HIERARCHY_LOCK = 7_342_114_100;

/**
 * Creates every missing CA (once, under a lock, so nodes starting together
 * agree on one hierarchy) and loads them all with their keys opened.
 */
export async function ensureHierarchy(db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> } & Queryable, config: PkiConfig, plainBaseUrl: string, passphrase: string, now: Date): Promise<Map<CaId, LoadedCa>> {
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [HIERARCHY_LOCK]);
    const existing = new Set((await tx.query<{ id: string }>('select id from pki_cas')).map((r) => r.id));
    const created = new Map<CaId, LoadedCa>();
    for (const id of CA_IDS) {
      if (existing.has(id)) continue;
      const parentId = PARENT[id];
      const parent = parentId ? (created.get(parentId) ?? (await loadCa(tx, parentId, passphrase))) : null;
      const ca = await createCa(id, parent, caSettings(config, id), config, plainBaseUrl, now);
      await tx.query('insert into pki_cas (id, parent_id, algorithm, certificate_der, encrypted_key_pem) values ($1, $2, $3, $4, $5)', [
        id,
        parentId,
        ca.signer.algorithm,
        ca.der,
        await encryptPrivateKey(ca.signer.cryptoKey, passphrase),
      ]);
      await tx.query(`insert into pki_events (action, ca_id, actor, details) values ('ca-created', $1, 'system', $2)`, [id, JSON.stringify({ subject: ca.certificate.subject })]);
      created.set(id, ca);
    }
  });
  const loaded = new Map<CaId, LoadedCa>();
  for (const id of CA_IDS) loaded.set(id, await loadCa(db, id, passphrase));
  return loaded;
}

export async function loadCa(db: Queryable, id: CaId, passphrase: string): Promise<LoadedCa> {
  const [row] = await db.query<{ parent_id: CaId | null; algorithm: KeyAlgorithmName; certificate_der: Uint8Array; encrypted_key_pem: string; imported: boolean }>(
    'select parent_id, algorithm, certificate_der, encrypted_key_pem, imported from pki_cas where id = $1',
    [id],
  );
  if (!row) throw new PkiSetupError(`CA ${id} is missing`);
  const pair = await decryptPrivateKey(row.encrypted_key_pem, passphrase, row.algorithm, `CA ${id}`);
  return { id, parentId: row.parent_id, certificate: new x509.X509Certificate(new Uint8Array(row.certificate_der)), der: row.certificate_der, signer: softwareSigner(row.algorithm, pair), imported: row.imported };
}

async function createCa(id: CaId, parent: LoadedCa | null, settings: { name: string; algorithm: KeyAlgorithmName; validityYears: number }, config: PkiConfig, plainBaseUrl: string, now: Date): Promise<LoadedCa> {
  const pair = await generateKeyPair(settings.algorithm);
  const signer = softwareSigner(settings.algorithm, pair);
  const name = caName(settings.name, config);
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + settings.validityYears * 365.25 * 86_400_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, parent ? 0 : undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(pair.publicKey, false, webCrypto),
  ];
  let certificate: x509.X509Certificate;
  if (parent) {
    const urls = caUrls(plainBaseUrl, parent.id);
    extensions.push(
      await x509.AuthorityKeyIdentifierExtension.create(parent.certificate, false, webCrypto),
      new x509.CRLDistributionPointsExtension([urls.crl]),
      new x509.AuthorityInfoAccessExtension({ caIssuers: [new x509.GeneralName('url', urls.caIssuers)] }),
      new x509.CertificatePolicyExtension(['2.5.29.32.0']),
    );
    certificate = await x509.X509CertificateGenerator.create(
      { serialNumber: randomSerial(), subject: name, issuer: parent.certificate.subjectName, notBefore, notAfter, publicKey: pair.publicKey, signingKey: parent.signer.cryptoKey, signingAlgorithm: parent.signer.params.sign, extensions },
      parent.signer.crypto,
    );
  } else {
    certificate = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: randomSerial(), name, notBefore, notAfter, keys: pair, signingAlgorithm: signingParams(settings.algorithm).sign, extensions }, webCrypto);
  }
  return { id, parentId: parent?.id ?? null, certificate, der: new Uint8Array(certificate.rawData), signer, imported: false };
}

function caName(commonName: string, config: PkiConfig): x509.JsonName {
  return [{ C: [config.country] }, { O: [config.organisation] }, { CN: [commonName] }];
}
