import { createHash } from 'node:crypto';
import type { Queryable } from '../store/index.ts';
import { concat, derBitString, derExplicit, derLength, derOctetString, derSequence, derSmallInteger, derTime, derEnumerated, derTlv } from './der.ts';
import { subjectNameOf } from './certificate-der.ts';
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
  /** Room for `size` more bytes; returns the buffer to write into at `length`. */
  reserve(size: number): Uint8Array {
    if (this.length + size > this.buffer.length) {
      const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + size));
      next.set(this.buffer.subarray(0, this.length));
      this.buffer = next;
    }
    return this.buffer;
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

/** Each reason's whole entry extension, made once: SEQUENCE { reasonCode, OCTET STRING { ENUMERATED } }. */
const REASON_EXTENSIONS = new Map<RevocationReason, Uint8Array>(
  (Object.keys(REVOCATION_REASONS) as RevocationReason[]).map((reason) => [reason, derSequence([REASON_CODE_EXT, derOctetString(derEnumerated(REVOCATION_REASONS[reason]))])]),
);
/** SEQUENCE { invalidityDate OID (5), OCTET STRING (2) { GeneralizedTime (2 + 15) } }: content length 24. */
const INVALIDITY_PREFIX = Uint8Array.of(0x30, 0x18, ...INVALIDITY_DATE_EXT, 0x04, 0x11, 0x18, 0x0f);

/**
 * Encodes one revokedCertificates entry (serial, date, and the reason and
 * invalidity date extensions when they say something) into `out` at `at`,
 * returning the new offset. Written byte by byte: at a million entries,
 * allocating per field costs more than everything else.
 */
export function writeEntry(entry: RevokedEntry, out: Uint8Array, at: number): number {
  const serialBytes = (entry.serial.length + 1) >> 1;
  // An odd-length serial starts with a half byte, which can never set the top bit.
  const pad = entry.serial.length % 2 === 0 && hexDigit(entry.serial.charCodeAt(0)) >= 8 ? 1 : 0;
  const serialLength = serialBytes + pad;
  const reason = entry.reason && entry.reason !== 'unspecified' ? REASON_EXTENSIONS.get(entry.reason)! : undefined;
  const extensionsLength = (reason?.length ?? 0) + (entry.invalidityDate ? INVALIDITY_PREFIX.length + 15 : 0);
  const timeLength = entry.revokedAt.getUTCFullYear() >= 2050 ? 17 : 15;
  const contentLength = 2 + serialLength + timeLength + (extensionsLength ? 2 + extensionsLength : 0);
  out[at++] = 0x30;
  out[at++] = contentLength;
  out[at++] = 0x02;
  out[at++] = serialLength;
  if (pad) out[at++] = 0;
  at = writeHex(entry.serial, out, at);
  at = writeTime(entry.revokedAt, out, at, false);
  if (extensionsLength) {
    out[at++] = 0x30;
    out[at++] = extensionsLength;
    if (reason) {
      out.set(reason, at);
      at += reason.length;
    }
    if (entry.invalidityDate) {
      out.set(INVALIDITY_PREFIX, at);
      at += INVALIDITY_PREFIX.length;
      at = writeTime(entry.invalidityDate, out, at, true);
    }
  }
  return at;
}

/** One entry on its own (tests, and the shape the writer streams). */
export function encodeEntry(entry: RevokedEntry): Uint8Array {
  const out = new Uint8Array(128);
  return out.slice(0, writeEntry(entry, out, 0));
}

/** Serials are stored as lower-case hex; reading digits by char code avoids a substring per byte. */
function writeHex(hex: string, out: Uint8Array, at: number): number {
  let i = 0;
  if (hex.length % 2) out[at++] = hexDigit(hex.charCodeAt(i++));
  for (; i < hex.length; i += 2) out[at++] = (hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1));
  return at;
}

function hexDigit(code: number): number {
  return code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57;
}

/** UTCTime (tag, length, YYMMDDHHMMSSZ) before 2050, else GeneralizedTime; `digitsOnly` writes just GeneralizedTime's 15 bytes. */
function writeTime(date: Date, out: Uint8Array, at: number, digitsOnly: boolean): number {
  const year = date.getUTCFullYear();
  const generalized = digitsOnly || year >= 2050;
  if (!digitsOnly) {
    out[at++] = generalized ? 0x18 : 0x17;
    out[at++] = generalized ? 15 : 13;
  }
  if (generalized) at = twoDigits(Math.floor(year / 100), out, at);
  at = twoDigits(year % 100, out, at);
  at = twoDigits(date.getUTCMonth() + 1, out, at);
  at = twoDigits(date.getUTCDate(), out, at);
  at = twoDigits(date.getUTCHours(), out, at);
  at = twoDigits(date.getUTCMinutes(), out, at);
  at = twoDigits(date.getUTCSeconds(), out, at);
  out[at++] = 0x5a;
  return at;
}

function twoDigits(value: number, out: Uint8Array, at: number): number {
  out[at++] = 0x30 + Math.floor(value / 10);
  out[at++] = 0x30 + (value % 10);
  return at;
}

/** Reads the CA's revoked certificates page by page (keyset on serial), so memory holds one page of rows. */
export async function* revokedEntries(db: Queryable, caId: string): AsyncGenerator<RevokedEntry> {
  let after = '';
  for (;;) {
    // Times come as whole epoch seconds (cut, as every time written here): parsing a million timestamptz strings in the driver costs more than the rest of the CRL.
    const rows = await db.query<{ serial: string; revoked_s: number; revocation_reason: RevocationReason | null; invalidity_s: number | null }>(
      `select serial, floor(extract(epoch from revoked_at))::int8 as revoked_s, revocation_reason, floor(extract(epoch from invalidity_date))::int8 as invalidity_s
         from pki_certificates where ca_id = $1 and revoked_at is not null and serial > $2 order by serial limit ${PAGE}`,
      [caId, after],
    );
    for (const row of rows) {
      yield { serial: row.serial, revokedAt: new Date(row.revoked_s * 1000), reason: row.revocation_reason, invalidityDate: row.invalidity_s === null ? null : new Date(row.invalidity_s * 1000) };
    }
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
    // An entry is at most ~90 bytes (20-octet serial, both extensions).
    sink.length = writeEntry(entry, sink.reserve(128), sink.length);
    count++;
  }
  const entriesDer = sink.bytes();
  const keyId = ca.certificate.getExtension('2.5.29.14');
  const aki = keyId ? derSequence([derTlv(0x80, keyIdentifier(new Uint8Array(keyId.value)))]) : undefined;
  const extensions = derExplicit(0, derSequence([...(aki ? [derSequence([AKI_EXT, derOctetString(aki)])] : []), derSequence([CRL_NUMBER_EXT, derOctetString(derSmallInteger(number))])]));
  const head = concat([derSmallInteger(1), ca.signer.params.algorithmIdentifier, subjectNameOf(new Uint8Array(ca.der)), derTime(thisUpdate), derTime(nextUpdate)]);
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
