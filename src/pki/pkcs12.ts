import { createPrivateKey, KeyObject, randomBytes } from 'node:crypto';
import * as pkijs from 'pkijs';
import { concat, derExplicit, derOctetString, derSequence, derSmallInteger, derTlv } from './der.ts';
import { encodeOid } from './keys.ts';

/**
 * PKCS#12 (RFC 7292) for a key made here and its certificates, as OpenSSL 3,
 * Windows and browsers read it: the key as a PKCS#8 shrouded bag (PBES2,
 * PBKDF2-HMAC-SHA256, AES-256-CBC, from node:crypto), the certificates in
 * the clear (they are public), integrity by an HMAC-SHA256 MAC with the
 * PKCS#12 key derivation (from pkijs).
 */
const OID = {
  data: '1.2.840.113549.1.7.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  sha256: '2.16.840.1.101.3.4.2.1',
};
const MAC_ITERATIONS = 2048;

export interface Pkcs12Contents {
  readonly privateKey: KeyObject | CryptoKey;
  /** The holder's certificate, then the CAs above it. */
  readonly certificates: readonly Uint8Array[];
  readonly password: string;
  readonly friendlyName?: string;
}

export async function exportPkcs12(contents: Pkcs12Contents): Promise<Uint8Array> {
  const key = contents.privateKey instanceof KeyObject ? contents.privateKey : KeyObject.from(contents.privateKey);
  const keyId = randomBytes(20);
  const holderAttributes = bagAttributes(keyId, contents.friendlyName);
  const encryptedKey = key.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: contents.password });
  const keyBag = safeBag(OID.shroudedKeyBag, new Uint8Array(encryptedKey), holderAttributes);
  const certBags = contents.certificates.map((der, index) => safeBag(OID.certBag, derSequence([encodeOid(OID.x509Certificate), derExplicit(0, derOctetString(der))]), index === 0 ? holderAttributes : undefined));
  const authenticatedSafe = derSequence([dataContentInfo(derSequence([keyBag])), dataContentInfo(derSequence(certBags))]);
  const salt = randomBytes(16);
  const mac = new Uint8Array(
    await pkijs.getCrypto(true).stampDataWithPassword({
      password: new TextEncoder().encode(contents.password).buffer as ArrayBuffer,
      hashAlgorithm: 'SHA-256',
      salt: salt.buffer.slice(salt.byteOffset, salt.byteOffset + salt.length) as ArrayBuffer,
      iterationCount: MAC_ITERATIONS,
      contentToStamp: authenticatedSafe.buffer as ArrayBuffer,
    }),
  );
  const macData = derSequence([derSequence([derSequence([encodeOid(OID.sha256), Uint8Array.of(0x05, 0x00)]), derOctetString(mac)]), derOctetString(salt), derSmallInteger(MAC_ITERATIONS)]);
  return derSequence([derSmallInteger(3), dataContentInfo(authenticatedSafe), macData]);
}

function dataContentInfo(content: Uint8Array): Uint8Array {
  return derSequence([encodeOid(OID.data), derExplicit(0, derOctetString(content))]);
}

function safeBag(bagId: string, value: Uint8Array, attributes: Uint8Array | undefined): Uint8Array {
  return derSequence([encodeOid(bagId), derExplicit(0, value), ...(attributes ? [attributes] : [])]);
}

/** localKeyId ties the key to its certificate; friendlyName is what key stores show. */
function bagAttributes(keyId: Uint8Array, friendlyName: string | undefined): Uint8Array {
  const attributes = [derSequence([encodeOid(OID.localKeyId), derTlv(0x31, derOctetString(keyId))])];
  if (friendlyName) attributes.unshift(derSequence([encodeOid(OID.friendlyName), derTlv(0x31, derTlv(0x1e, bmpString(friendlyName)))]));
  return derTlv(0x31, concat(attributes));
}

function bmpString(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    out[2 * i] = text.charCodeAt(i) >> 8;
    out[2 * i + 1] = text.charCodeAt(i) & 0xff;
  }
  return out;
}

export class Pkcs12Error extends Error {
  override readonly name = 'Pkcs12Error';
}

/** A PKCS#12 file is a key and a few certificates; anything this large is not one. */
const MAX_PKCS12_BYTES = 256 * 1024;

/**
 * Reads a PKCS#12 file as OpenSSL 3 and this module write it (PBES2 with
 * AES, HMAC-SHA-2 MAC): the MAC is checked first, then the key and
 * certificates are taken out. Legacy files (RC2/3DES, SHA-1 PBE) are refused.
 */
export async function readPkcs12(der: Uint8Array, password: string): Promise<{ privateKey: KeyObject; certificates: Uint8Array<ArrayBuffer>[] }> {
  if (der.length > MAX_PKCS12_BYTES) throw new Pkcs12Error(`the PKCS#12 file is larger than ${MAX_PKCS12_BYTES} bytes`);
  const passwordBytes = new TextEncoder().encode(password).buffer as ArrayBuffer;
  let bags: pkijs.SafeBag[];
  try {
    const pfx = pkijs.PFX.fromBER(new Uint8Array(der));
    await pfx.parseInternalValues({ password: passwordBytes, checkIntegrity: true });
    const safe = pfx.parsedValue?.authenticatedSafe;
    if (!safe) throw new Error('no content');
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: passwordBytes })) });
    bags = (safe.parsedValue.safeContents as { value: pkijs.SafeContents }[]).flatMap((contents) => contents.value.safeBags);
  } catch (error) {
    const legacy = error instanceof Error && /1\.2\.840\.113549\.1\.12\.1\./.test(error.message);
    throw new Pkcs12Error(legacy ? 'the PKCS#12 file uses legacy encryption (RC2/3DES); export it again with OpenSSL 3 defaults' : 'the PKCS#12 file cannot be opened: not PKCS#12, damaged, or a wrong password');
  }
  const keys: KeyObject[] = [];
  const certificates: Uint8Array<ArrayBuffer>[] = [];
  for (const bag of bags) {
    if (bag.bagId === OID.shroudedKeyBag) keys.push(openShroudedKey(bag, password));
    if (bag.bagId === OID.certBag && (bag.bagValue as pkijs.CertBag).certId === OID.x509Certificate) {
      certificates.push(new Uint8Array(((bag.bagValue as pkijs.CertBag).certValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView));
    }
  }
  const [privateKey, ...more] = keys;
  if (!privateKey || more.length) throw new Pkcs12Error(`the PKCS#12 file must hold exactly one private key (it holds ${keys.length})`);
  return { privateKey, certificates };
}

function openShroudedKey(bag: pkijs.SafeBag, password: string): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from((bag.bagValue as pkijs.PKCS8ShroudedKeyBag).toSchema().toBER()), format: 'der', type: 'pkcs8', passphrase: password });
  } catch {
    throw new Pkcs12Error('the private key in the PKCS#12 file cannot be decrypted');
  }
}
