import { generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import type { Queryable, Database } from '../../store/index.ts';
import type { Sealer } from './sealing.ts';

export type SigningAlg = 'RS256' | 'PS256' | 'ES256';
export type KeyState = 'next' | 'current' | 'retired';

export interface SigningKey {
  readonly kid: string;
  readonly state: KeyState;
  readonly signsFrom: Date;
  readonly retiredAt: Date | null;
}

export interface RotationPolicy {
  /** How long a key signs before the next takes over. */
  readonly rotationMs: number;
  /** How long a new key is published before it signs. */
  readonly publishAheadMs: number;
  /** How long a retired key stays published: the longest life of a token it signed. */
  readonly keepRetiredMs: number;
}

export type RotationStep =
  | { readonly do: 'create'; readonly state: 'current' | 'next'; readonly signsFrom: Date }
  | { readonly do: 'promote'; readonly kid: string }
  | { readonly do: 'retire'; readonly kid: string }
  | { readonly do: 'delete'; readonly kid: string };

/**
 * What rotation must do now. A new key is published `publishAheadMs` before
 * it signs, so relying parties that cache the JWKS already know it; the old
 * key stays published until every token it signed has expired.
 */
export function planRotation(keys: readonly SigningKey[], now: Date, policy: RotationPolicy): RotationStep[] {
  const steps: RotationStep[] = [];
  const t = now.getTime();
  const current = keys.find((k) => k.state === 'current');
  const next = keys.find((k) => k.state === 'next');
  if (!current && !next) return [{ do: 'create', state: 'current', signsFrom: now }];
  if (next && next.signsFrom.getTime() <= t) {
    if (current) steps.push({ do: 'retire', kid: current.kid });
    steps.push({ do: 'promote', kid: next.kid });
  } else if (current && !next) {
    const handOver = current.signsFrom.getTime() + policy.rotationMs;
    if (handOver - policy.publishAheadMs <= t) steps.push({ do: 'create', state: 'next', signsFrom: new Date(Math.max(handOver, t + policy.publishAheadMs)) });
  }
  for (const key of keys) {
    if (key.state === 'retired' && key.retiredAt && key.retiredAt.getTime() + policy.keepRetiredMs <= t) steps.push({ do: 'delete', kid: key.kid });
  }
  return steps;
}

/** A fresh private JWK for the algorithm. */
export function generateSigningJwk(alg: SigningAlg, kid: string = randomUUID()): JsonWebKey {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

interface KeyRow {
  kid: string;
  state: KeyState;
  signsFrom: Date;
  retiredAt: Date | null;
  sealed: Uint8Array;
}

const purposeOf = (kid: string) => `signing-key:${kid}`;

/**
 * Applies due rotation steps (one node at a time, under a table lock) and
 * returns the keys for the provider: the signing key first and only it
 * allowed to sign; the next and retired keys published for verification.
 */
export async function rotateSigningKeys(db: Database, sealer: Sealer, alg: SigningAlg, policy: RotationPolicy, now: Date): Promise<JsonWebKey[]> {
  const rows = await db.transaction(async (tx) => {
    await tx.exec('lock table oidc_signing_keys in share row exclusive mode');
    const before = await readKeys(tx);
    for (const step of planRotation(before, now, policy)) await apply(tx, sealer, alg, step, now);
    return readKeys(tx);
  });
  const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 };
  return rows
    .sort((a, b) => order[a.state] - order[b.state])
    .map((row) => {
      const jwk = JSON.parse(sealer.open(row.sealed, purposeOf(row.kid))) as JsonWebKey;
      // Only the current key may sign; a private key cannot carry `verify` for WebCrypto, so it carries no key_ops at all.
      return row.state === 'current' ? jwk : { ...jwk, key_ops: ['verify'] };
    });
}

async function readKeys(db: Queryable): Promise<KeyRow[]> {
  return db.query<KeyRow>(
    'select kid, state, signs_from as "signsFrom", retired_at as "retiredAt", private_jwk_encrypted as sealed from oidc_signing_keys order by signs_from desc',
  );
}

async function apply(db: Queryable, sealer: Sealer, alg: SigningAlg, step: RotationStep, now: Date): Promise<void> {
  switch (step.do) {
    case 'create': {
      const jwk = generateSigningJwk(alg);
      await db.query('insert into oidc_signing_keys (kid, state, private_jwk_encrypted, created_at, signs_from) values ($1, $2, $3, $4, $5)', [
        jwk.kid,
        step.state,
        sealer.seal(JSON.stringify(jwk), purposeOf(jwk.kid as string)),
        now,
        step.signsFrom,
      ]);
      return;
    }
    case 'promote':
      await db.query(`update oidc_signing_keys set state = 'current' where kid = $1`, [step.kid]);
      return;
    case 'retire':
      await db.query(`update oidc_signing_keys set state = 'retired', retired_at = $2 where kid = $1`, [step.kid, now]);
      return;
    case 'delete':
      await db.query('delete from oidc_signing_keys where kid = $1', [step.kid]);
      return;
  }
}
