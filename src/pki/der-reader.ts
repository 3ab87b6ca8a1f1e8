/**
 * A strict DER reader for the one structure read on the issuance path (the
 * PKCS#10 request): a TLV walker with every length checked against its
 * container, definite minimal lengths only, and nothing left over. Issuance
 * runs at hundreds per second; the general ASN.1 libraries build an object
 * tree per field and cost more than signing.
 */

export class DerError extends Error {
  override readonly name = 'DerError';
}

/** One tag-length-value: `content` is a view into the bytes read, `end` the offset after it. */
export interface Tlv {
  readonly tag: number;
  readonly content: Uint8Array;
  /** The whole TLV, header included (what a signature covers). */
  readonly raw: Uint8Array;
}

/** Reads the TLV at `at`; the caller's `bytes` bound it. */
export function readTlv(bytes: Uint8Array, at: number): Tlv {
  if (at + 2 > bytes.length) throw new DerError('truncated');
  const tag = bytes[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used here');
  let length = bytes[at + 1]!;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0) throw new DerError('indefinite length is not DER');
    if (octets > 3) throw new DerError('length too large');
    if (at + 2 + octets > bytes.length) throw new DerError('truncated');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[at + 2 + i]!;
    // DER: the shortest form, so no leading zero octet and no long form below 128.
    if (bytes[at + 2] === 0 || length < 0x80) throw new DerError('length not in its shortest form');
    header += octets;
  }
  const end = at + header + length;
  if (end > bytes.length) throw new DerError('truncated');
  return { tag, content: bytes.subarray(at + header, end), raw: bytes.subarray(at, end) };
}

/** The one TLV that `bytes` hold, with nothing after it. */
export function readOnly(bytes: Uint8Array, tag: number): Tlv {
  const tlv = readTlv(bytes, 0);
  if (tlv.raw.length !== bytes.length) throw new DerError('data after the end');
  return expectTag(tlv, tag);
}

/** The TLVs inside a constructed TLV, which must fill it exactly. */
export function childrenOf(parent: Tlv): Tlv[] {
  const children: Tlv[] = [];
  for (let at = 0; at < parent.content.length; ) {
    const child = readTlv(parent.content, at);
    children.push(child);
    at += child.raw.length;
  }
  return children;
}

export function expectTag(tlv: Tlv | undefined, tag: number): Tlv {
  if (!tlv) throw new DerError(`missing element (tag 0x${tag.toString(16)})`);
  if (tlv.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)}`);
  return tlv;
}

/** Dotted text of an OBJECT IDENTIFIER's content (arcs of any size, as 2.25 UUID arcs are). */
export function oidText(content: Uint8Array): string {
  if (content.length === 0 || content[content.length - 1]! & 0x80) throw new DerError('malformed object identifier');
  const arcs: bigint[] = [];
  let value = 0n;
  for (let i = 0; i < content.length; i++) {
    if (value === 0n && content[i] === 0x80) throw new DerError('object identifier arc not in its shortest form');
    value = (value << 7n) | BigInt(content[i]! & 0x7f);
    if (!(content[i]! & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  const first = arcs[0]!;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}
