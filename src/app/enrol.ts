import 'reflect-metadata';
import { webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AppRequestError, postJson, type AppServer } from './client.ts';
import type { KeyStore } from './keystore.ts';

/** What the enrolment service gives back for a CSR. */
export interface IssuedEid {
  readonly certificatePem: string;
  readonly chainPem: readonly string[];
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A PKCS#10 request signed by the new key; the subject is only a placeholder, the server names the person. */
export async function certificateRequest(publicKey: KeyObject, privateKey: KeyObject): Promise<string> {
  const keys = { publicKey: publicKey.toCryptoKey(EC, true, ['verify']), privateKey: privateKey.toCryptoKey(EC, false, ['sign']) } as unknown as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=Tillit eID app', keys, signingAlgorithm: EC }, webcrypto as unknown as Crypto);
  return csr.toString('pem');
}

/**
 * Enrols a mobile eID: a new key under the PIN, a CSR for it redeemed by
 * `redeem`, and the certificate attached. If anything fails the new key is
 * removed again, so a refused enrolment leaves the app as it was.
 */
export async function enrollMobileEid(keys: KeyStore, pin: string, redeem: (csrPem: string) => Promise<IssuedEid>, label = 'Mobilt eID'): Promise<{ id: string; certificatePem: string }> {
  const { id, publicKey, privateKey } = await keys.createKey('mobile', label, pin);
  try {
    const issued = await redeem(await certificateRequest(publicKey, privateKey));
    // Fail closed: a certificate for some other key is of no use and must not be stored as ours.
    if (!new X509Certificate(issued.certificatePem).publicKey.equals(publicKey)) throw new AppRequestError(0, 'badResponse', 'the server returned a certificate for another key');
    await keys.attachCertificate(id, issued.certificatePem, issued.chainPem);
    return { id, certificatePem: issued.certificatePem };
  } catch (error) {
    await keys.remove(id);
    throw error;
  }
}

/** Enrols over the app API (`/app/v1/enrol`) with a code from self-service or an operator (its text or QR content). */
export function enrollWithCode(server: AppServer, keys: KeyStore, code: string, pin: string, options: { label?: string; deviceLabel?: string } = {}) {
  return enrollMobileEid(
    keys,
    pin,
    async (csr) => {
      const answer = (await postJson(server, 'app/v1/enrol', { code, csr, ...(options.deviceLabel ? { deviceLabel: options.deviceLabel } : {}) })) as { certificate: string; chain: string[] };
      return { certificatePem: answer.certificate, chainPem: answer.chain };
    },
    options.label,
  );
}
