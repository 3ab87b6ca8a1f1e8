/**
 * End-entity certificates written straight to DER (RFC 5280 §4.1). Building
 * them as @peculiar/x509 object trees cost five times the signature; these
 * are the same bytes (issue.test.ts compares them with the general encoder
 * for every profile) from a handful of concatenations.
 */
import { createHash } from 'node:crypto';
import { concat, derBitString, derExplicit, derInteger, derOctetString, derSequence, derTime, derTlv } from './der.ts';
import { childrenOf, expectTag, readOnly } from './der-reader.ts';
import { encodeOid } from './keys.ts';

const VERSION_3 = derExplicit(0, Uint8Array.of(0x02, 0x01, 0x02));
const TRUE = Uint8Array.of(0x01, 0x01, 0xff);

export interface CertificateFields {
  /** Positive, lower-case hex. */
  readonly serial: string;
  /** The CA's signature AlgorithmIdentifier (DER). */
  readonly signatureAlgorithm: Uint8Array;
  readonly issuer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  readonly extensions: readonly Uint8Array[];
}

export function encodeTbsCertificate(fields: CertificateFields): Uint8Array {
  const serial = Buffer.from(fields.serial.length % 2 ? `0${fields.serial}` : fields.serial, 'hex');
  return derSequence([
    VERSION_3,
    derInteger(serial),
    fields.signatureAlgorithm,
    fields.issuer,
    derSequence([derTime(fields.notBefore), derTime(fields.notAfter)]),
    fields.subject,
    fields.spki,
    derExplicit(3, derSequence(fields.extensions)),
  ]);
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }. */
export function encodeCertificate(tbs: Uint8Array, signatureAlgorithm: Uint8Array, signature: Uint8Array): Uint8Array {
  return derSequence([tbs, signatureAlgorithm, derBitString(signature)]);
}

/** Extension ::= SEQUENCE { extnID, critical (only when TRUE: DER omits the default), extnValue }. */
export function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence([encodeOid(oid), ...(critical ? [TRUE] : []), derOctetString(value)]);
}

/** A KeyUsage-style named BIT STRING: bit i of `flags` is bit i of the string, trailing zero bits dropped. */
export function namedBits(flags: number): Uint8Array {
  if (flags === 0) return Uint8Array.of(0x03, 0x01, 0x00);
  const highest = 31 - Math.clz32(flags);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (let bit = 0; bit <= highest; bit++) if (flags & (1 << bit)) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return derTlv(0x03, concat([Uint8Array.of(bytes.length * 8 - highest - 1), bytes]));
}

/** One attribute of a distinguished name: written as PrintableString when it fits, else UTF8String (as @peculiar/x509 and OpenSSL do). */
export interface NameAttribute {
  readonly oid: string;
  readonly value: string;
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** Name ::= SEQUENCE OF RDN, one attribute per RDN, in the order given. */
export function encodeName(attributes: readonly NameAttribute[]): Uint8Array {
  return derSequence(
    attributes.map(({ oid, value }) => {
      const text = PRINTABLE.test(value) ? derTlv(0x13, Buffer.from(value, 'latin1')) : derTlv(0x0c, Buffer.from(value, 'utf8'));
      return derTlv(0x31, derSequence([encodeOid(oid), text]));
    }),
  );
}

/** The key identifier (RFC 5280 §4.2.1.2 method 1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, subjectPublicKey] = childrenOf(readOnly(spki, 0x30));
  return createHash('sha1').update(expectTag(subjectPublicKey, 0x03).content.subarray(1)).digest();
}

/** The subject Name of a DER certificate, as its bytes (an issuer name must match them exactly). */
export function subjectNameOf(certificate: Uint8Array): Uint8Array {
  const tbs = childrenOf(expectTag(childrenOf(readOnly(certificate, 0x30))[0], 0x30));
  // version [0] is present in every v3 certificate; subject follows serial, signature, issuer, validity.
  return expectTag(tbs[tbs[0]!.tag === 0xa0 ? 5 : 4], 0x30).raw;
}

/** The subjectKeyIdentifier of a DER certificate, if it has one. */
export function subjectKeyIdentifierOf(certificate: Uint8Array): Uint8Array | undefined {
  const tbs = childrenOf(expectTag(childrenOf(readOnly(certificate, 0x30))[0], 0x30));
  const extensions = tbs.find((t) => t.tag === 0xa3);
  if (!extensions) return undefined;
  const ski = encodeOid('2.5.29.14');
  for (const ext of childrenOf(expectTag(childrenOf(extensions)[0], 0x30))) {
    const parts = childrenOf(ext);
    if (Buffer.compare(parts[0]!.raw, ski) === 0) return readOnly(expectTag(parts.at(-1), 0x04).content, 0x04).content;
  }
  return undefined;
}

/** A GeneralName uniformResourceIdentifier [6]. */
export const derUri = (url: string) => derTlv(0x86, Buffer.from(url, 'ascii'));
