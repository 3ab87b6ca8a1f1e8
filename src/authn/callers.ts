import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Queryable } from '../store/index.ts';
import { normaliseSubjectDn } from './function-client.ts';

/** A system allowed to start orders (an IdP): authenticated by a secret or by its function certificate. */
export interface Caller {
  readonly id: string;
  readonly displayName: string;
}

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;
const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;

export class CallerError extends Error {
  override readonly name = 'CallerError';
}

function derive(secret: string, salt: Buffer): Promise<Buffer> {
  const options: ScryptOptions = { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(secret, salt, SCRYPT.keylen, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** Registers a caller and returns its secret, which is shown once and stored only as a scrypt hash. */
export async function addCaller(db: Queryable, id: string, displayName: string): Promise<{ caller: Caller; secret: string }> {
  const name = checkedCaller(id, displayName);
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  const hash = await derive(secret, salt);
  const inserted = await db.query(
    `insert into authn_callers (id, display_name, secret_salt, secret_hash) values ($1, $2, $3, $4) on conflict (id) do nothing returning id`,
    [id, name, salt, hash],
  );
  if (inserted.length === 0) throw new CallerError(`caller '${id}' already exists`);
  return { caller: { id, displayName: name }, secret };
}

/**
 * Registers a caller that authenticates with its function client certificate
 * over mutual TLS: the certificate must pass the function-certificate checks
 * and carry exactly this subject. Such a caller has no secret.
 */
export async function addCertificateCaller(db: Queryable, id: string, displayName: string, tlsSubjectDn: string): Promise<Caller> {
  const name = checkedCaller(id, displayName);
  const subject = normaliseSubjectDn(tlsSubjectDn);
  if (!subject) throw new CallerError(`'${tlsSubjectDn}' is not a distinguished name (RFC 4514, e.g. CN=Region IdP,O=Region Demo,2.5.4.5=SE2321000016-F001)`);
  const [taken] = await db.query<{ id: string }>('select id from authn_callers where tls_subject_dn = $1', [subject]);
  if (taken) throw new CallerError(`caller '${taken.id}' is already registered for the certificate subject ${subject}`);
  const inserted = await db.query('insert into authn_callers (id, display_name, tls_subject_dn) values ($1, $2, $3) on conflict (id) do nothing returning id', [id, name, subject]);
  if (inserted.length === 0) throw new CallerError(`caller '${id}' already exists`);
  return { id, displayName: name };
}

function checkedCaller(id: string, displayName: string): string {
  if (!ID_PATTERN.test(id)) throw new CallerError(`caller id '${id}' must be 3–64 lower-case letters, digits, '.', '_' or '-'`);
  if (!displayName.trim()) throw new CallerError('a caller needs a display name');
  return displayName.trim();
}

/** The caller registered for a (checked) client certificate's subject, unless disabled. */
export async function callerForCertificateSubject(db: Queryable, subjectDn: string): Promise<Caller | undefined> {
  const subject = normaliseSubjectDn(subjectDn);
  if (!subject) return undefined;
  const [row] = await db.query<{ id: string; display_name: string }>('select id, display_name from authn_callers where tls_subject_dn = $1 and disabled_at is null', [subject]);
  return row ? { id: row.id, displayName: row.display_name } : undefined;
}

/**
 * Secrets already proven against a caller's stored scrypt hash, by caller id:
 * the hash they were proven against and a SHA-256 of the secret. The secrets
 * are 256 random bits, so SHA-256 is as good a check as scrypt for them; the
 * cache only spares the ~50 ms of scrypt on each of a caller's many calls.
 * A new secret or a disabled caller shows in the row read on every call.
 */
const proven = new Map<string, { readonly secretHash: Buffer; readonly digest: Buffer }>();

/** The caller whose id and secret match; undefined for any mismatch, in about the same time. */
export async function authenticateCaller(db: Queryable, id: string, secret: string): Promise<Caller | undefined> {
  // Callers registered by certificate have no secret, so they never match here.
  const [row] = ID_PATTERN.test(id)
    ? await db.query<{ id: string; display_name: string; secret_salt: Uint8Array; secret_hash: Uint8Array }>(
        'select id, display_name, secret_salt, secret_hash from authn_callers where id = $1 and disabled_at is null and secret_hash is not null',
        [id],
      )
    : [];
  if (row) {
    const known = proven.get(row.id);
    // A wrong secret goes on to scrypt, so it takes as long as for an unknown id.
    if (known?.secretHash.equals(Buffer.from(row.secret_hash)) && timingSafeEqual(createHash('sha256').update(secret).digest(), known.digest)) {
      return { id: row.id, displayName: row.display_name };
    }
  }
  // Derive even for an unknown id, so response time does not reveal which ids exist.
  const derived = await derive(secret, row ? Buffer.from(row.secret_salt) : Buffer.alloc(16));
  if (!row || !timingSafeEqual(derived, Buffer.from(row.secret_hash))) return undefined;
  proven.set(row.id, { secretHash: Buffer.from(row.secret_hash), digest: createHash('sha256').update(secret).digest() });
  return { id: row.id, displayName: row.display_name };
}
