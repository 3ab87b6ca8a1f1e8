import { createHash } from 'node:crypto';
import type { Queryable } from '../store/index.ts';
import { concat, derBitString, derExplicit, derGeneralizedTime, derInteger, derLength, derOctetString, derSequence, derSmallInteger, derTime, derEnumerated, derTlv } from './der.ts';
import type { LoadedCa } from './hierarchy.ts';
import { encodeOid } from './keys.ts';
import { REVOCATION_REASONS, type RevocationReason } from './revoke.ts';

export interface Crl {
  readonly der: Uint8Array;
  readonly number: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: number;
  readonly etag: string;
}

const REASON_CODE_EXT = concat([encodeOid('2.5.29.21')]);
const INVALIDITY_DATE_EXT = concat([encodeOid('2.5.29.24')]);
const CRL_NUMBER_EXT = encodeOid('2.5.29.20');
const AKI_EXT = encodeOid('2.5.29.35');
const PAGE = 50_000;

/** Grows one buffer for the entries: a million entries are ~45 MB of DER, never a million objects at once. */
class ByteSink {
  private buffer = new Uint8Array(1 << 20);
  length = 0;
  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buffer.length) {
      const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + bytes.length));
      next.set(this.buffer.subarray(0, this.length));
      this.buffer = next;
    }
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

export interface RevokedEntry {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason | null;
  readonly invalidityDate: Date | null;
}

/** One revokedCertificates entry: serial, date, and the reason and invalidity date extensions when they say something. */
export function encodeEntry(entry: RevokedEntry): Uint8Array {
  const extensions: Uint8Array[] = [];
  if (entry.reason && entry.reason !== 'unspecified') {
    extensions.push(derSequence([REASON_CODE_EXT, derOctetString(derEnumerated(REVOCATION_REASONS[entry.reason]))]));
  }
  if (entry.invalidityDate) extensions.push(derSequence([INVALIDITY_DATE_EXT, derOctetString(derGeneralizedTime(entry.invalidityDate))]));
  const parts = [derInteger(Buffer.from(entry.serial.length % 2 ? `0${entry.serial}` : entry.serial, 'hex')), derTime(entry.revokedAt)];
  if (extensions.length) parts.push(derSequence(extensions));
  return derSequence(parts);
}

/** Reads the CA's revoked certificates page by page (keyset on serial), so memory holds one page of rows. */
export async function* revokedEntries(db: Queryable, caId: string): AsyncGenerator<RevokedEntry> {
  let after = '';
  for (;;) {
    const rows = await db.query<{ serial: string; revoked_at: Date; revocation_reason: RevocationReason | null; invalidity_date: Date | null }>(
      `select serial, revoked_at, revocation_reason, invalidity_date from pki_certificates
        where ca_id = $1 and revoked_at is not null and serial > $2 order by serial limit ${PAGE}`,
      [caId, after],
    );
    for (const row of rows) yield { serial: row.serial, revokedAt: row.revoked_at, reason: row.revocation_reason, invalidityDate: row.invalidity_date };
    if (rows.length < PAGE) return;
    after = rows.at(-1)!.serial;
  }
}

/**
 * Writes a CRL (RFC 5280 §5) straight to DER: the entries are encoded as they
 * stream in, then wrapped and signed once. Common libraries build an object
 * per entry and take minutes for a million; this is one pass.
 */
export async function writeCrl(ca: LoadedCa, entries: AsyncIterable<RevokedEntry> | Iterable<RevokedEntry>, number: number, thisUpdate: Date, nextUpdate: Date): Promise<Crl> {
  const sink = new ByteSink();
  let count = 0;
  for await (const entry of entries) {
    sink.push(encodeEntry(entry));
    count++;
  }
  const entriesDer = sink.bytes();
  const keyId = ca.certificate.getExtension('2.5.29.14');
  const aki = keyId ? derSequence([derTlv(0x80, keyIdentifier(new Uint8Array(keyId.value)))]) : undefined;
  const extensions = derExplicit(0, derSequence([...(aki ? [derSequence([AKI_EXT, derOctetString(aki)])] : []), derSequence([CRL_NUMBER_EXT, derOctetString(derSmallInteger(number))])]));
  const head = concat([derSmallInteger(1), ca.signer.params.algorithmIdentifier, new Uint8Array(ca.certificate.subjectName.toArrayBuffer()), derTime(thisUpdate), derTime(nextUpdate)]);
  const revoked = count > 0 ? concat([Uint8Array.of(0x30), derLength(entriesDer.length), entriesDer]) : new Uint8Array();
  const tbsBody = concat([head, revoked, extensions]);
  const tbs = concat([Uint8Array.of(0x30), derLength(tbsBody.length), tbsBody]);
  const signature = await ca.signer.sign(tbs);
  const der = derSequence([tbs, ca.signer.params.algorithmIdentifier, derBitString(signature)]);
  return { der, number, thisUpdate, nextUpdate, entries: count, etag: `"${createHash('sha256').update(der).digest('base64url').slice(0, 27)}"` };
}

/** The SKI extension's value is an OCTET STRING around the key id; AKI wants the bare key id. */
function keyIdentifier(extensionValue: Uint8Array): Uint8Array {
  return extensionValue[0] === 0x04 ? extensionValue.subarray(extensionValue[1]! & 0x80 ? 2 + (extensionValue[1]! & 0x7f) : 2) : extensionValue;
}

/** The next CRL number for a CA; numbers only grow, across restarts and nodes. */
export async function nextCrlNumber(db: Queryable, caId: string): Promise<number> {
  const [row] = await db.query<{ last_number: number }>(
    `insert into pki_crl_numbers (ca_id, last_number) values ($1, 1)
     on conflict (ca_id) do update set last_number = pki_crl_numbers.last_number + 1 returning last_number`,
    [caId],
  );
  return row!.last_number;
}
