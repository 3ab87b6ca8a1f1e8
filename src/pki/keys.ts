import 'reflect-metadata';
import { createPrivateKey, createPublicKey, KeyObject, webcrypto } from 'node:crypto';
import type { KeyAlgorithmName } from './config.ts';
import { derInteger, derSequence } from './der.ts';

export const webCrypto = webcrypto as unknown as Crypto;

export interface SigningParams {
  /** WebCrypto algorithm for keys and for @peculiar/x509's generators. */
  readonly generate: RsaHashedKeyGenParams | EcKeyGenParams;
  readonly sign: RsaHashedImportParams | EcdsaParams;
  /** DER AlgorithmIdentifier of the signatures this key makes (sha256/sha384 with RSA or ECDSA). */
  readonly algorithmIdentifier: Uint8Array;
}

const OID = {
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
};

const NULL = Uint8Array.of(0x05, 0x00);

export function signingParams(name: KeyAlgorithmName): SigningParams {
  switch (name) {
    case 'ecdsa-p256':
      return { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' }, algorithmIdentifier: derSequence([encodeOid(OID.ecdsaWithSHA256)]) };
    case 'ecdsa-p384':
      return { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' }, algorithmIdentifier: derSequence([encodeOid(OID.ecdsaWithSHA384)]) };
    default: {
      const bits = Number(name.slice(4));
      const hash = bits >= 3072 ? 'SHA-384' : 'SHA-256';
      return {
        generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: Uint8Array.of(1, 0, 1), hash },
        sign: { name: 'RSASSA-PKCS1-v1_5', hash },
        algorithmIdentifier: derSequence([encodeOid(hash === 'SHA-384' ? OID.sha384WithRSA : OID.sha256WithRSA), NULL]),
      };
    }
  }
}

/** DER of an OBJECT IDENTIFIER. */
export function encodeOid(oid: string): Uint8Array {
  // Arcs as BigInt from the text: a 2.25 UUID arc has 128 bits, far past a Number's exact range.
  const parts = oid.split('.').map(BigInt);
  const bytes: number[] = [Number(parts[0]! * 40n + parts[1]!)];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [];
    let value = part;
    do {
      chunk.unshift(Number(value & 0x7fn));
      value >>= 7n;
    } while (value > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    bytes.push(...chunk);
  }
  return Uint8Array.from([0x06, bytes.length, ...bytes]);
}

/**
 * Everything that signs with a CA key goes through this, so a PKCS#11 HSM can
 * take the place of software keys: `cryptoKey` and `crypto` are what
 * @peculiar/x509 signs certificates with (an HSM provides both through a
 * WebCrypto provider such as node-webcrypto-p11), and `sign` makes raw
 * X.509-style signatures for CRLs and OCSP responses.
 */
export interface Signer {
  readonly algorithm: KeyAlgorithmName;
  readonly params: SigningParams;
  readonly crypto: Crypto;
  readonly cryptoKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The signature value as X.509 carries it (DER ECDSA-Sig-Value, or PKCS#1 v1.5 bytes). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export function softwareSigner(algorithm: KeyAlgorithmName, pair: CryptoKeyPair): Signer {
  const params = signingParams(algorithm);
  return {
    algorithm,
    params,
    crypto: webCrypto,
    cryptoKey: pair.privateKey,
    publicKey: pair.publicKey,
    async sign(data) {
      const raw = new Uint8Array(await webCrypto.subtle.sign(params.sign, pair.privateKey, data as Uint8Array<ArrayBuffer>));
      return params.generate.name === 'ECDSA' ? ecdsaP1363ToDer(raw) : raw;
    },
  };
}

/** WebCrypto gives ECDSA signatures as r‖s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
function ecdsaP1363ToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return derSequence([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
}

export async function generateKeyPair(algorithm: KeyAlgorithmName): Promise<CryptoKeyPair> {
  return (await webCrypto.subtle.generateKey(signingParams(algorithm).generate, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** The private key as encrypted PKCS#8 PEM (PBES2, AES-256-CBC), readable by OpenSSL with the passphrase. */
export async function encryptPrivateKey(privateKey: CryptoKey, passphrase: string): Promise<string> {
  return KeyObject.from(privateKey).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

export class KeyDecryptionError extends Error {
  override readonly name = 'KeyDecryptionError';
}

/** Opens an encrypted CA key; a wrong passphrase is a clear error, never the key's bytes in a message. */
export async function decryptPrivateKey(pem: string, passphrase: string, algorithm: KeyAlgorithmName, what: string): Promise<CryptoKeyPair> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch {
    throw new KeyDecryptionError(`the key of ${what} cannot be opened: wrong pki.keyPassphrase, or the key file is damaged`);
  }
  const params = signingParams(algorithm);
  const importParams = params.generate.name === 'ECDSA' ? params.generate : params.sign;
  const privateKey = await webCrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), importParams, true, ['sign']);
  const publicKey = await webCrypto.subtle.importKey('spki', createPublicKey(key).export({ type: 'spki', format: 'der' }), importParams, true, ['verify']);
  return { privateKey, publicKey };
}
