import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../config/index.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import type { Part, PartContext } from '../../server/index.ts';
import { createMemoryStore, type Database } from '../../store/index.ts';
import { makeOidcPart } from './index.ts';

const DAY = 86_400_000;

describe('signing keys rotate while the IdP runs', () => {
  let db: Database;
  let app: FastifyInstance;
  let part: Part;
  let clock = Date.UTC(2031, 0, 1);

  before(async () => {
    db = await databaseTargets()[0]!.open();
    const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://', demo: { seed: false }, oidc: { encryptionKey: Buffer.alloc(32, 4).toString('base64') } } });
    // Called directly, with no other parts started.
    const create = makeOidcPart({ keyCheckIntervalMs: 10 }) as (context: PartContext, started?: ReadonlyMap<string, Part>) => Promise<Part>;
    part = await create({ config, db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => new Date(clock) }, new Map());
    app = Fastify();
    await app.register(part.https!, {});
  });
  after(async () => {
    await part.stop?.();
    await app.close();
    await db.close();
  });

  const jwks = async () => (await app.inject({ url: '/oidc/jwks' })).json() as { keys: { kid: string; key_ops?: string[] }[] };
  /** Waits (bounded) until the node's periodic check has rebuilt the provider into the expected state. */
  async function until(check: (keys: { kid: string; key_ops?: string[] }[]) => boolean) {
    for (let attempt = 0; attempt < 500; attempt++) {
      const { keys } = await jwks();
      if (check(keys)) return keys;
      await sleep(10);
    }
    assert.fail(`the JWKS never changed as expected: ${JSON.stringify((await jwks()).keys)}`);
  }

  it('publishes the next key before it signs and keeps the old one after the handover', async () => {
    const [first] = (await jwks()).keys;
    assert.ok(first);
    clock += 29 * DAY + 1;
    const published = await until((keys) => keys.length === 2);
    assert.equal(published[0]!.kid, first.kid, 'the old key still comes first (signs)');
    assert.deepEqual(published[1]!.key_ops, ['verify']);
    clock += DAY;
    const handedOver = await until((keys) => keys[0]!.kid === published[1]!.kid);
    assert.equal(handedOver[1]!.kid, first.kid, 'the old key stays published for its tokens');
    assert.deepEqual(handedOver[1]!.key_ops, ['verify']);
  });
});
