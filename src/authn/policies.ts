/**
 * The policy OIDs of a certificatePolicies extension value. Read by hand
 * because the ASN.1 library under @peculiar/x509 garbles arcs wider than 53
 * bits, and our default arc is a 2.25 UUID arc (128 bits).
 */
export function certificatePolicyOids(extensionValue: Uint8Array): string[] {
  const outer = readTlv(extensionValue, 0, 0x30);
  const oids: string[] = [];
  for (let at = outer.start; at < outer.end; ) {
    const info = readTlv(extensionValue, at, 0x30);
    const oid = readTlv(extensionValue, info.start, 0x06);
    oids.push(decodeOid(extensionValue.subarray(oid.start, oid.end)));
    at = info.end;
  }
  return oids;
}

function readTlv(bytes: Uint8Array, at: number, tag: number): { start: number; end: number } {
  if (bytes[at] !== tag) throw new Error('malformed certificatePolicies');
  let length = bytes[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('malformed certificatePolicies');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new Error('malformed certificatePolicies');
  return { start, end };
}

function decodeOid(body: Uint8Array): string {
  const arcs: bigint[] = [];
  let value = 0n;
  for (const byte of body) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  const first = arcs.shift() ?? 0n;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}
