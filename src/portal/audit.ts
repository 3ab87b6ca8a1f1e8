import { createHash } from 'node:crypto';
import type { Queryable } from '../store/index.ts';

/**
 * The portal's audit trail: an append-only, hash-chained log. Each entry's
 * hash is SHA-256 over the previous entry's hash and the entry's canonical
 * JSON, so altering, inserting or removing a row inside the chain breaks
 * every hash after it. Entries are written with the change they record, in
 * the same transaction (the caller passes its transaction).
 */

export const GENESIS_HASH = '0'.repeat(64);
/** Serialises appends across nodes: the chain must be one line, not a tree. */
const AUDIT_LOCK_KEY = 0x7417_0600;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface AuditEvent {
  /** An HSA-id, or `operator:<name>` for the command line. */
  readonly actor: string;
  readonly role: string | null;
  readonly organisation: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly before: unknown;
  readonly after: unknown;
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: Date;
  readonly actor: string;
  readonly role: string | null;
  readonly organisation: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly before: Json;
  readonly after: Json;
  readonly previousHash: string;
  readonly hash: string;
}

/** JSON with object keys sorted at every level: the same value always hashes the same, whatever order jsonb gives back. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Plain JSON data (dates become ISO strings, undefined disappears), as it will read back from jsonb. */
function toJson(value: unknown): Json {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
}

/** The hash of an entry given the hash before it. */
export function entryHash(previousHash: string, entry: Omit<AuditEntry, 'hash' | 'previousHash'>): string {
  const body = canonicalJson({
    seq: entry.seq,
    at: entry.at.toISOString(),
    actor: entry.actor,
    role: entry.role,
    organisation: entry.organisation,
    action: entry.action,
    target: entry.target,
    before: entry.before,
    after: entry.after,
  });
  return createHash('sha256').update(previousHash).update('\n').update(body).digest('hex');
}

/** Appends one entry; `tx` must be the transaction that makes the change it records. */
export async function appendAudit(tx: Queryable, event: AuditEvent, now: Date): Promise<AuditEntry> {
  await tx.query('select pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
  const [last] = await tx.query<{ seq: number; hash: string; at: Date }>('select seq, hash, at from portal_audit order by seq desc limit 1');
  // Times are kept in whole milliseconds (what Date holds) and never run backwards along the chain.
  const at = last && last.at.getTime() > now.getTime() ? last.at : new Date(now.getTime());
  const unhashed = {
    seq: (last?.seq ?? 0) + 1,
    at,
    actor: event.actor,
    role: event.role,
    organisation: event.organisation,
    action: event.action,
    target: event.target,
    before: toJson(event.before),
    after: toJson(event.after),
  };
  const previousHash = last?.hash ?? GENESIS_HASH;
  const entry: AuditEntry = { ...unhashed, previousHash, hash: entryHash(previousHash, unhashed) };
  await tx.query(
    `insert into portal_audit (seq, at, actor, role, organisation_hsa_id, action, target, before, after, previous_hash, hash)
       values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11)`,
    [entry.seq, entry.at, entry.actor, entry.role, entry.organisation, entry.action, entry.target, JSON.stringify(entry.before), JSON.stringify(entry.after), entry.previousHash, entry.hash],
  );
  return entry;
}

interface AuditRow {
  seq: number;
  at: Date;
  actor: string;
  role: string | null;
  organisation_hsa_id: string | null;
  action: string;
  target: string | null;
  before: Json;
  after: Json;
  previous_hash: string;
  hash: string;
}

const COLUMNS = 'seq, at, actor, role, organisation_hsa_id, action, target, before, after, previous_hash, hash';

function fromRow(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    role: row.role,
    organisation: row.organisation_hsa_id,
    action: row.action,
    target: row.target,
    before: row.before,
    after: row.after,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

/** Entries in chain order, read a page at a time so a ten-year log never sits in memory at once. */
export async function* readAudit(db: Queryable, range: { from?: Date; to?: Date } = {}, pageSize = 1000): AsyncGenerator<AuditEntry> {
  let after = 0;
  for (;;) {
    const rows = await db.query<AuditRow>(
      `select ${COLUMNS} from portal_audit
        where seq > $1 and ($2::timestamptz is null or at >= $2) and ($3::timestamptz is null or at < $3)
        order by seq limit $4`,
      [after, range.from ?? null, range.to ?? null, pageSize],
    );
    for (const row of rows) yield fromRow(row);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly head: string }
  | { readonly ok: false; readonly entries: number; readonly brokenAt: number; readonly problem: string };

/**
 * Walks the whole chain: numbers without gaps from 1, each entry pointing at
 * the hash before it, each hash matching the entry's content. The head hash
 * it returns can be kept elsewhere (printed, mailed) to detect a cut-off tail.
 */
export async function verifyAudit(db: Queryable): Promise<AuditVerification> {
  let previous = GENESIS_HASH;
  let count = 0;
  for await (const entry of readAudit(db)) {
    const expectedSeq = count + 1;
    if (entry.seq !== expectedSeq) return { ok: false, entries: count, brokenAt: expectedSeq, problem: `entry ${expectedSeq} is missing (next is ${entry.seq})` };
    if (entry.previousHash !== previous) return { ok: false, entries: count, brokenAt: entry.seq, problem: `entry ${entry.seq} does not point at the hash of entry ${entry.seq - 1}` };
    if (entryHash(previous, entry) !== entry.hash) return { ok: false, entries: count, brokenAt: entry.seq, problem: `entry ${entry.seq} was changed after it was written (its hash does not match its content)` };
    previous = entry.hash;
    count = entry.seq;
  }
  return { ok: true, entries: count, head: previous };
}

/** One JSON line per entry, with both hashes, so an exported period can be checked against the chain. */
export function auditLine(entry: AuditEntry): string {
  return JSON.stringify({ ...entry, at: entry.at.toISOString() });
}
