import 'reflect-metadata';
import { createPublicKey, randomUUID, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readPkcs12 } from '../pki/index.ts';
import { KeyStoreError, type Credential, type CredentialUse, type KeyStore } from './keystore.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What a card certificate is for, read from its key usage: digitalSignature (with clientAuth, if it names EKUs) logs in; nonRepudiation signs. */
export function usesOf(certificate: x509.X509Certificate): CredentialUse[] {
  const keyUsage = certificate.getExtension(x509.KeyUsagesExtension);
  const eku = certificate.getExtension(x509.ExtendedKeyUsageExtension);
  const uses: CredentialUse[] = [];
  const flags = keyUsage?.usages ?? 0;
  if (flags & x509.KeyUsageFlags.digitalSignature && (!eku || eku.usages.map(String).includes(CLIENT_AUTH))) uses.push('auth');
  if (flags & x509.KeyUsageFlags.nonRepudiation) uses.push('sign');
  return uses;
}

/**
 * Imports a "card" into the app: one PKCS#12 file per certificate (a card
 * holds an authentication and a signature certificate, each with its key).
 * Every file is opened and checked before anything is stored, and the keys
 * are stored under the app's PIN (wrong PINs count as for a mobile eID).
 */
export async function importCard(keys: KeyStore, files: readonly Uint8Array[], password: string, pin: string, label = 'Kort'): Promise<{ cardId: string; credentialIds: string[] }> {
  if (files.length === 0) throw new KeyStoreError('notFound', 'give at least one PKCS#12 file of the card');
  const cardId = randomUUID();
  const imports = [];
  for (const [index, file] of files.entries()) {
    const { privateKey, certificates } = await readPkcs12(file, password);
    const publicKey = createPublicKey(privateKey);
    const leafIndex = certificates.findIndex((der) => new X509Certificate(der).publicKey.equals(publicKey));
    if (leafIndex < 0) throw new KeyStoreError('notFound', `PKCS#12 file ${index + 1} holds no certificate for its key`);
    const leaf = new x509.X509Certificate(certificates[leafIndex]!);
    const uses = usesOf(leaf);
    if (uses.length === 0) throw new KeyStoreError('notFound', `the certificate in PKCS#12 file ${index + 1} (${leaf.subject}) is neither for login nor for signing`);
    const chainPem = certificates.filter((_, i) => i !== leafIndex).map((der) => new x509.X509Certificate(der).toString('pem'));
    imports.push({ kind: 'card' as const, label, privateKey, certificatePem: leaf.toString('pem'), chainPem, cardId, uses });
  }
  return { cardId, credentialIds: await keys.importKeys(pin, imports) };
}

/** What a TLS client needs to log in with a card: its authentication certificate with the chain, and the key. */
export interface CardTlsCredentials {
  readonly credentialId: string;
  /** The authentication certificate followed by its issuing CAs (roots left out), PEM. */
  readonly cert: string;
  /** The private key in the clear, PKCS#8 PEM: keep it in memory only. */
  readonly key: string;
}

/**
 * The card's authentication certificate and key for a TLS client (Node's
 * `tls.connect({ cert, key })`, curl `--cert`), unlocked by the PIN. Without
 * `cardId` the first card in the app is used.
 */
export async function cardTlsCredentials(keys: KeyStore, pin: string, cardId?: string): Promise<CardTlsCredentials> {
  const credential = keys.list().find((c): c is Credential & { certificatePem: string } => c.kind === 'card' && Boolean(c.certificatePem) && (c.uses ?? []).includes('auth') && (!cardId || c.cardId === cardId));
  if (!credential) throw new KeyStoreError('notFound', cardId ? `no card ${cardId} with a login certificate in this app` : 'this app holds no card with a login certificate: import one first');
  const key = await keys.unlockedKeyPem(credential.id, pin);
  const intermediates = credential.chainPem.filter((pem) => {
    const certificate = new X509Certificate(pem);
    return certificate.subject !== certificate.issuer;
  });
  return { credentialId: credential.id, cert: [credential.certificatePem, ...intermediates].map((p) => p.trim()).join('\n') + '\n', key };
}
