/**
 * The DER encodings the certificate, CRL and OCSP writers need, as plain
 * bytes. These run per certificate, per OCSP answer and per CRL entry (a
 * million of them), where an ASN.1 object tree per field costs more than the
 * signature; CA certificates, PKCS#12 and parsing elsewhere use
 * @peculiar/x509 and pkijs.
 */

export function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

export function derTlv(tag: number, content: Uint8Array): Uint8Array {
  const length = derLength(content.length);
  const out = new Uint8Array(1 + length.length + content.length);
  out[0] = tag;
  out.set(length, 1);
  out.set(content, 1 + length.length);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const derSequence = (parts: readonly Uint8Array[]) => derTlv(0x30, concat(parts));

/** An INTEGER from unsigned big-endian bytes: leading zeros dropped, one added when the top bit is set. */
export function derInteger(unsigned: Uint8Array): Uint8Array {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const body = unsigned.subarray(start);
  return derTlv(0x02, body[0]! & 0x80 ? concat([Uint8Array.of(0), body]) : body);
}

export function derSmallInteger(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return derInteger(Uint8Array.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), whole seconds. */
export function derTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  return year < 2050 ? derTlv(0x17, ascii(`${timeDigits(date).slice(2)}Z`)) : derGeneralizedTime(date);
}

export function derGeneralizedTime(date: Date): Uint8Array {
  return derTlv(0x18, ascii(`${timeDigits(date)}Z`));
}

function timeDigits(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

export const derEnumerated = (value: number) => derTlv(0x0a, Uint8Array.of(value));
export const derOctetString = (content: Uint8Array) => derTlv(0x04, content);
export const derBitString = (content: Uint8Array) => derTlv(0x03, concat([Uint8Array.of(0), content]));
export const derExplicit = (tagNumber: number, content: Uint8Array) => derTlv(0xa0 | tagNumber, content);
