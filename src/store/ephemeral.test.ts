import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ephemeralTargets } from '../../test/support/stores.ts';
import { createMemoryStore, EphemeralStoreError, openEphemeralStore, StoreUnavailableError } from './index.ts';

for (const target of ephemeralTargets()) {
  describe(`short-lived store on ${target.name}`, () => {
    it('stores, reads and deletes values', async () => {
      const store = await target.open();
      try {
        assert.equal(await store.get('absent'), null);
        await store.set('order:1', '{"status":"pending"}', 60_000);
        assert.equal(await store.get('order:1'), '{"status":"pending"}');
        const ttl = await store.ttl('order:1');
        assert.ok(ttl !== null && ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);
        await store.delete('order:1');
        assert.equal(await store.get('order:1'), null);
        assert.equal(await store.ttl('order:1'), null);
      } finally {
        await store.close();
      }
    });

    it('forgets a value when its time to live has passed', async () => {
      const store = await target.open();
      try {
        await store.set('short', 'x', 40);
        await sleep(120);
        assert.equal(await store.get('short'), null);
      } finally {
        await store.close();
      }
    });

    it('hands a one-time value to exactly one of many concurrent takers', async () => {
      const store = await target.open();
      try {
        await store.set('code:abc', 'grant-1', 60_000);
        const results = await Promise.all(Array.from({ length: 20 }, () => store.take('code:abc')));
        assert.deepEqual(results.filter((r) => r !== null), ['grant-1']);
        assert.equal(await store.get('code:abc'), null);
      } finally {
        await store.close();
      }
    });

    it('accepts a replay-cache entry once', async () => {
      const store = await target.open();
      try {
        const results = await Promise.all(Array.from({ length: 10 }, () => store.setIfAbsent('seen:id-1', '1', 60_000)));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await store.setIfAbsent('seen:id-2', '1', 60_000), true);
      } finally {
        await store.close();
      }
    });

    it('counts attempts without losing increments, keeping the first TTL', async () => {
      const store = await target.open();
      try {
        const counts = await Promise.all(Array.from({ length: 25 }, () => store.increment('attempts:u1', 60_000)));
        assert.deepEqual([...counts].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
        const ttl = await store.ttl('attempts:u1');
        assert.ok(ttl !== null && ttl <= 60_000);
      } finally {
        await store.close();
      }
    });

    it('appends beside a live key in one step, for as long as that key lives, and nothing beside an absent one', async () => {
      const store = await target.open();
      try {
        assert.equal(await store.append('session:gone', 'x'), false);
        assert.deepEqual(await store.appended('session:gone'), []);
        assert.equal(await store.get('session:gone:n'), null, 'no count left behind');
        await store.set('session:1', 'owner', 60_000);
        const values = Array.from({ length: 20 }, (_, i) => `{"n":${i},"odd":"]]> ' \" \\n .. ':p:' \u0000 Åsa"}`);
        assert.deepEqual(await Promise.all(values.map((v) => store.append('session:1', v))), values.map(() => true));
        assert.deepEqual([...(await store.appended('session:1'))].sort(), [...values].sort(), 'every concurrent append kept, verbatim');
        const owner = (await store.ttl('session:1'))!;
        for (const key of ['session:1:n', 'session:1:p:1', 'session:1:p:20']) {
          const ttl = await store.ttl(key);
          assert.ok(ttl !== null && ttl > 0 && ttl <= owner + 5, `${key} lives as long as its owner (${ttl} vs ${owner})`);
        }
        await store.delete('session:1');
        assert.equal(await store.append('session:1', 'late'), false);
        assert.equal((await store.appended('session:1')).length, 20, 'what was appended expires with its own TTL');
      } finally {
        await store.close();
      }
    });

    it('refuses a TTL that is not a positive whole number', async () => {
      const store = await target.open();
      try {
        for (const bad of [0, -5, 1.5, Number.NaN]) {
          await assert.rejects(store.set('k', 'v', bad), EphemeralStoreError);
          await assert.rejects(store.increment('k', bad), EphemeralStoreError);
        }
        assert.equal(await store.get('k'), null);
      } finally {
        await store.close();
      }
    });
  });
}

describe('memory store', () => {
  it('expires keys by its injected clock, counters included', async () => {
    let now = 1_000;
    const store = createMemoryStore(() => now, 5);
    await store.set('a', '1', 100);
    await store.increment('n', 100);
    now += 99;
    assert.equal(await store.get('a'), '1');
    assert.equal(await store.increment('n', 100), 2);
    now += 1;
    assert.equal(await store.get('a'), null);
    assert.equal(await store.increment('n', 100), 1);
    await store.close();
  });

  it('lets what was appended expire with its owner by the injected clock', async () => {
    let now = 1_000;
    const store = createMemoryStore(() => now, 5);
    await store.set('owner', '1', 100);
    now += 60;
    assert.equal(await store.append('owner', 'a'), true);
    assert.equal(await store.append('owner', 'b'), true);
    assert.deepEqual(await store.appended('owner'), ['a', 'b']);
    assert.equal(await store.ttl('owner:p:2'), 40);
    now += 40;
    assert.deepEqual(await store.appended('owner'), []);
    assert.equal(await store.append('owner', 'c'), false);
    await store.close();
  });
});

describe('redis store', () => {
  it('reports an unreachable Redis without its password', async () => {
    await assert.rejects(openEphemeralStore({ redis: { url: 'redis://:hunter2@127.0.0.1:1', keyPrefix: 't:' } }), (error: Error) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.match(error.message, /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 is not reachable/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });
});
