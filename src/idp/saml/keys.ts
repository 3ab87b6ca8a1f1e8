// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Queryable } from '../../store/index.ts';
import type { Sealer } from '../oidc/index.ts';

/** What a key of the IdP is for: signing responses and metadata, or letting SPs encrypt to us. */
export type KeyUse = 'signing' | 'encryption';

/** One of the IdP's key pairs: the private key and the certificate SPs see in the metadata. */
export interface IdpKey {
  readonly use: KeyUse;
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM, as xml-crypto and xml-encryption take it. */
  readonly privateKeyPem: string;
  readonly certificatePem: string;
  /** The certificate's DER in base64, as it goes into `ds:X509Certificate`. */
  readonly certificateBase64: string;
}

export interface IdpKeys {
  readonly signing: IdpKey;
  readonly encryption: IdpKey;
}

const purposeOf = (use: KeyUse) => `saml-idp-key:${use}`;
const CERTIFICATE_YEARS = 10;

/**
 * The IdP's signing and encryption keys, made on first start and kept sealed
 * (AES-256-GCM under the IdP's encryption key) in `saml_idp_keys`, so every
 * node signs with the same key and a database dump alone never reveals it.
 * The certificates are self-signed: an SP trusts the key because it is in
 * the metadata, not because of who issued the certificate.
 */
export async function loadOrCreateIdpKeys(db: Queryable, sealer: Sealer, options: { entityId: string; modulusLength: number; now: Date }): Promise<IdpKeys> {
  const load = async (use: KeyUse): Promise<IdpKey> => {
    const existing = await readKey(db, sealer, use);
    if (existing) return existing;
    const made = await makeKeyPair(use, options.entityId, options.modulusLength, options.now);
    // Two nodes starting at once: the first insert wins and both read it back.
    await db.query('insert into saml_idp_keys (use, private_key_encrypted, certificate_pem) values ($1, $2, $3) on conflict (use) do nothing', [use, sealer.seal(made.privateKeyPem, purposeOf(use)), made.certificatePem]);
    return (await readKey(db, sealer, use))!;
  };
  return { signing: await load('signing'), encryption: await load('encryption') };
}

async function readKey(db: Queryable, sealer: Sealer, use: KeyUse): Promise<IdpKey | null> {
  const [row] = await db.query<{ sealed: Uint8Array; certificatePem: string }>('select private_key_encrypted as sealed, certificate_pem as "certificatePem" from saml_idp_keys where use = $1', [use]);
  if (!row) return null;
  const privateKeyPem = sealer.open(row.sealed, purposeOf(use));
  return { use, privateKey: createPrivateKey(privateKeyPem), privateKeyPem, certificatePem: row.certificatePem, certificateBase64: pemBody(row.certificatePem) };
}

async function makeKeyPair(use: KeyUse, entityId: string, modulusLength: number, now: Date): Promise<{ privateKeyPem: string; certificatePem: string }> {
  const crypto = webcrypto as unknown as Crypto;
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength, publicExponent: new Uint8Array([1, 0, 1]) };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      // 128 random bits with the top bit cleared: a positive serial as RFC 5280 requires.
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, (d) => (parseInt(d, 16) - 8).toString(16)),
      name: `CN=${escapeDnValue(`SAML IdP ${use} ${new URL(entityId).host}`)}`,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(use === 'signing' ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyEncipherment, true),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), certificatePem: certificate.toString('pem') };
}

const escapeDnValue = (value: string) => value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);

/** The base64 body of a PEM block, without armour or line breaks. */
export function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** A certificate from `ds:X509Certificate` content as PEM. */
export function certificatePem(base64: string): string {
  const body = base64.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** The key persistent pairwise NameIDs are made with: made once per installation, shared by every node. */
export async function loadOrCreatePairwiseKey(db: Queryable, sealer: Sealer): Promise<Uint8Array> {
  const purpose = 'saml-secret:pairwise-key';
  await db.query('insert into saml_secrets (name, value_encrypted) values ($1, $2) on conflict (name) do nothing', ['pairwise-key', sealer.seal(randomBytes(32).toString('base64'), purpose)]);
  const [row] = await db.query<{ sealed: Uint8Array }>(`select value_encrypted as sealed from saml_secrets where name = 'pairwise-key'`);
  return Buffer.from(sealer.open(row!.sealed, purpose), 'base64');
}
