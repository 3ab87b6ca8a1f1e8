import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { childrenOf, DerError, expectTag, oidText, readOnly, type Tlv } from './der-reader.ts';

/** What a PKCS#10 request asks for, read and signature-checked. */
export interface CertificateRequest {
  readonly key: KeyObject;
  /** Subject attributes by dotted OID, in the order given; a type may appear more than once. */
  readonly subject: readonly { readonly type: string; readonly value: string }[];
  readonly san: readonly { readonly kind: 'dns' | 'email' | 'ip' | 'other'; readonly value: string }[];
}

/** Why a request cannot be read, in words the requester can act on. */
export class CsrError extends Error {
  override readonly name = 'CsrError';
}

const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';

/** Signature algorithms a request may be signed with: SHA-2 with RSA (PKCS#1 v1.5) or ECDSA. */
const SIGNATURE_ALGORITHMS: Record<string, { hash: string; key: 'rsa' | 'ec' }> = {
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', key: 'rsa' },
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', key: 'ec' },
};

const GENERAL_NAME_KINDS: Record<number, string> = { 0: 'otherName', 3: 'x400Address', 4: 'directoryName', 5: 'ediPartyName', 6: 'URI', 8: 'registeredID' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** PEM (CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST) or bare base64 to DER. */
export function csrDer(text: string): Uint8Array {
  const pem = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END (NEW )?CERTIFICATE REQUEST-----$/.exec(text.trim());
  const body = pem ? pem[2]! : text.trim();
  if (body.length === 0 || !/^[A-Za-z0-9+/=\s]+$/.test(body)) throw new CsrError('the CSR cannot be read: expected a PEM or base64 PKCS#10 certificate request');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/**
 * Reads a DER PKCS#10 request (RFC 2986) and checks that the key it carries
 * signed it. `checkKey` runs on the key before the signature is checked, so a
 * key that would be refused anyway is refused for that reason.
 */
export function readCertificateRequest(der: Uint8Array, checkKey: (key: KeyObject) => void): CertificateRequest {
  let request: Tlv[];
  let info: Tlv[];
  try {
    request = childrenOf(readOnly(der, SEQUENCE));
    if (request.length !== 3) throw new DerError('a request has three parts');
    info = childrenOf(expectTag(request[0], SEQUENCE));
    if (info.length !== 4 || expectTag(info[0], 0x02).content.length !== 1 || info[0]!.content[0] !== 0) throw new DerError('version 1 with four parts expected');
  } catch (error) {
    throw wrap(error);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(expectTag(info[2], SEQUENCE).raw), format: 'der', type: 'spki' });
  } catch {
    throw new CsrError('the public key cannot be read');
  }
  checkKey(key);
  try {
    const algorithm = childrenOf(expectTag(request[1], SEQUENCE));
    const oid = oidText(expectTag(algorithm[0], OID).content);
    const scheme = SIGNATURE_ALGORITHMS[oid];
    if (!scheme) throw new CsrError(`the CSR is signed with algorithm ${oid}; use SHA-256 or stronger with RSA (PKCS#1 v1.5) or ECDSA`);
    if (algorithm.length > 2 || (algorithm[1] && !(scheme.key === 'rsa' && algorithm[1].tag === 0x05 && algorithm[1].content.length === 0))) throw new DerError('unexpected signature algorithm parameters');
    const signature = expectTag(request[2], 0x03).content;
    if (signature[0] !== 0) throw new DerError('signature bit string with unused bits');
    let signed = false;
    if (scheme.key === key.asymmetricKeyType) {
      try {
        signed = verify(scheme.hash, request[0]!.raw, scheme.key === 'ec' ? { key, dsaEncoding: 'der' } : key, signature.subarray(1));
      } catch {
        signed = false;
      }
    }
    if (!signed) throw new CsrError('the CSR signature does not verify: it was not signed by the key it carries');
    return { key, subject: readName(info[1]), san: readAttributes(info[3]) };
  } catch (error) {
    throw wrap(error);
  }
}

function wrap(error: unknown): Error {
  if (error instanceof CsrError) return error;
  if (error instanceof DerError) return new CsrError(`the CSR cannot be read: ${error.message}`);
  return error as Error;
}

function readName(name: Tlv | undefined): { type: string; value: string }[] {
  const attributes: { type: string; value: string }[] = [];
  for (const rdn of childrenOf(expectTag(name, SEQUENCE))) {
    const set = childrenOf(expectTag(rdn, SET));
    if (set.length === 0) throw new DerError('empty relative distinguished name');
    for (const attribute of set) {
      const [type, value, extra] = childrenOf(expectTag(attribute, SEQUENCE));
      if (extra || !value) throw new DerError('malformed subject attribute');
      attributes.push({ type: oidText(expectTag(type, OID).content), value: directoryString(value) });
    }
  }
  return attributes;
}

/** The string types a subject may use; anything else is refused rather than guessed at. */
function directoryString(value: Tlv): string {
  try {
    switch (value.tag) {
      case 0x0c:
        return utf8.decode(value.content);
      case 0x13:
      case 0x16:
        if (value.content.some((b) => b > 0x7f)) throw new DerError('non-ASCII byte in an ASCII string');
        return Buffer.from(value.content).toString('latin1');
      case 0x1e:
        if (value.content.length % 2) throw new DerError('malformed BMPString');
        return Buffer.from(value.content).swap16().toString('utf16le');
      default:
        throw new CsrError(`the CSR subject uses string type 0x${value.tag.toString(16)}; use UTF8String or PrintableString`);
    }
  } catch (error) {
    if (error instanceof TypeError) throw new DerError('malformed UTF-8');
    throw error;
  }
}

/** The subjectAltNames of the extensionRequest attribute; other attributes and extensions are the profile's to decide and are ignored. */
function readAttributes(attributes: Tlv | undefined): CertificateRequest['san'] {
  const names: { kind: 'dns' | 'email' | 'ip' | 'other'; value: string }[] = [];
  let seen = false;
  for (const attribute of childrenOf(expectTag(attributes, 0xa0))) {
    const [type, values, extra] = childrenOf(expectTag(attribute, SEQUENCE));
    if (extra) throw new DerError('malformed attribute');
    const typeOid = oidText(expectTag(type, OID).content);
    const valueList = childrenOf(expectTag(values, SET));
    if (typeOid !== EXTENSION_REQUEST) continue;
    for (const extensions of valueList) {
      for (const extension of childrenOf(expectTag(extensions, SEQUENCE))) {
        const parts = childrenOf(expectTag(extension, SEQUENCE));
        if (oidText(expectTag(parts[0], OID).content) !== SUBJECT_ALT_NAME) continue;
        if (seen) throw new CsrError('the CSR has more than one subjectAltName extension');
        seen = true;
        const value = expectTag(parts.at(-1), 0x04);
        for (const name of childrenOf(readOnly(value.content, SEQUENCE))) names.push(generalName(name));
      }
    }
  }
  return names;
}

function generalName(name: Tlv): { kind: 'dns' | 'email' | 'ip' | 'other'; value: string } {
  switch (name.tag) {
    case 0x82:
    case 0x81:
      if (name.content.some((b) => b > 0x7f)) throw new DerError('non-ASCII byte in a subjectAltName');
      return { kind: name.tag === 0x82 ? 'dns' : 'email', value: Buffer.from(name.content).toString('latin1') };
    case 0x87:
      if (name.content.length === 4) return { kind: 'ip', value: [...name.content].join('.') };
      if (name.content.length === 16) return { kind: 'ip', value: Array.from({ length: 8 }, (_, i) => ((name.content[2 * i]! << 8) | name.content[2 * i + 1]!).toString(16)).join(':') };
      throw new DerError('an IP address subjectAltName must be 4 or 16 bytes');
    default:
      return { kind: 'other', value: GENERAL_NAME_KINDS[name.tag & 0x1f] ?? `[${name.tag & 0x1f}]` };
  }
}
