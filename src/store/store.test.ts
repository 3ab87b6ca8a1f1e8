import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import { migrate, isMigrated, readMigrations, MigrationError, openDatabase, StoreUnavailableError, type Database } from './index.ts';

const made: string[] = [];
after(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tillit-mig-'));
  made.push(dir);
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

for (const target of databaseTargets()) {
  describe(`durable store on ${target.name}`, () => {
    it('returns the same value types on every backend', async () => {
      const db = await target.open({ migrated: false });
      try {
        const [row] = await db.query<{ n: number; big: number; ts: Date; bytes: Uint8Array; num: string; j: unknown }>(
          `select count(*) as n, 9007199254740991::int8 as big, '2026-01-02T03:04:05Z'::timestamptz as ts,
                  '\\x0102ff'::bytea as bytes, 1.50::numeric as num, '{"a":[1]}'::jsonb as j
             from (values (1), (2)) v(x)`,
        );
        assert.equal(row!.n, 2);
        assert.equal(row!.big, Number.MAX_SAFE_INTEGER);
        assert.deepEqual(row!.ts, new Date('2026-01-02T03:04:05Z'));
        assert.ok(row!.bytes instanceof Uint8Array);
        assert.deepEqual([...row!.bytes], [1, 2, 255]);
        assert.equal(row!.num, '1.50');
        assert.deepEqual(row!.j, { a: [1] });
      } finally {
        await db.close();
      }
    });

    it('runs a prepared statement like any other, and keeps it prepared on PostgreSQL', async () => {
      const db = await target.open({ migrated: false });
      try {
        await db.query('create table prep (x int primary key, label text)');
        await db.query(`insert into prep values (1, 'one'), (2, 'two')`);
        const text = 'select label from prep where x = $1';
        await db.transaction(async (tx) => {
          // The same text with other values reuses the statement; new rows are seen (no cached result).
          assert.deepEqual(await tx.query(text, [1], { prepare: true }), [{ label: 'one' }]);
          await tx.query(`insert into prep values (3, 'three')`);
          assert.deepEqual(await tx.query(text, [3], { prepare: true }), [{ label: 'three' }]);
          assert.deepEqual(await tx.query(text, [9], { prepare: true }), []);
          if (db.kind === 'postgres') {
            const prepared = await tx.query<{ statement: string }>(`select statement from pg_prepared_statements where name like 'tillit\\_%'`);
            assert.deepEqual(prepared, [{ statement: text }]);
          }
        });
        // A second text gets its own statement: one name never stands for two texts.
        assert.deepEqual(await db.query('select count(*) as n from prep where x > $1', [1], { prepare: true }), [{ n: 2 }]);
      } finally {
        await db.close();
      }
    });

    it('rolls a transaction back when its work throws', async () => {
      const db = await target.open({ migrated: false });
      try {
        await db.query('create table t (x int primary key)');
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.query('insert into t values (1)');
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.deepEqual(await db.query('select * from t'), []);
        await db.transaction((tx) => tx.query('insert into t values (2)'));
        assert.deepEqual(await db.query('select x from t'), [{ x: 2 }]);
      } finally {
        await db.close();
      }
    });

    it('applies the shipped migrations once and reports readiness', async () => {
      const db = await target.open({ migrated: false });
      try {
        const migrations = await readMigrations();
        assert.equal(await isMigrated(db, migrations).catch(() => false), false);
        const first = await migrate(db, migrations);
        assert.deepEqual(first.applied, migrations.map((m) => m.name));
        const second = await migrate(db, migrations);
        assert.deepEqual(second.applied, []);
        assert.equal(second.alreadyApplied, migrations.length);
        assert.equal(await isMigrated(db, migrations), true);
      } finally {
        await db.close();
      }
    });

    it('leaves nothing half-migrated when a later migration fails', async () => {
      const db = await target.open({ migrated: false });
      try {
        const dir = await migrationsDir({
          '0001_good.sql': 'create table good (x int);',
          '0002_bad.sql': 'create table also_good (y int); select * from no_such_table;',
        });
        await assert.rejects(migrate(db, await readMigrations(dir)), (error: Error) => {
          assert.ok(error instanceof MigrationError);
          assert.match(error.message, /0002_bad\.sql failed: .*no_such_table.*nothing was applied/);
          return true;
        });
        const tables = await db.query<{ n: number }>(
          `select count(*) as n from information_schema.tables where table_name in ('good', 'also_good', 'schema_migrations') and table_schema = current_schema()`,
        );
        assert.equal(tables[0]!.n, 0);
      } finally {
        await db.close();
      }
    });

    it('refuses an applied migration whose file changed, and one it does not know', async () => {
      const db = await target.open({ migrated: false });
      try {
        const dir = await migrationsDir({ '0001_a.sql': 'create table a (x int);' });
        await migrate(db, await readMigrations(dir));
        await writeFile(join(dir, '0001_a.sql'), 'create table a (x bigint);');
        await assert.rejects(migrate(db, await readMigrations(dir)), /0001_a\.sql was changed after it was applied/);
        const empty = await migrationsDir({});
        await assert.rejects(migrate(db, await readMigrations(empty)), /does not know \(0001_a\.sql\)/);
      } finally {
        await db.close();
      }
    });

    // Two pooled connections contend for the lock exactly as two nodes would.
    it('lets two nodes migrate at once without racing', { skip: target.name === 'pglite' && 'PGlite is one process; its data folder is locked instead' }, async () => {
      const a = await target.open({ migrated: false });
      try {
        const dir = await migrationsDir({ '0001_slow.sql': 'select pg_sleep(0.3); create table slow (x int);', '0002_next.sql': 'create table next (y int);' });
        const migrations = await readMigrations(dir);
        const results = await Promise.all([migrate(a, migrations), migrate(a, migrations)]);
        const applied = results.flatMap((r) => r.applied).sort();
        assert.deepEqual(applied, ['0001_slow.sql', '0002_next.sql']);
      } finally {
        await a.close();
      }
    });
  });
}

describe('migration files', () => {
  it('refuses a misnamed file and a duplicated number', async () => {
    await assert.rejects(readMigrations(await migrationsDir({ 'create.sql': '' })), /create\.sql is misnamed/);
    await assert.rejects(readMigrations(await migrationsDir({ '0001_a.sql': '', '0001_b.sql': '' })), /two migrations share number 0001/);
  });
});

describe('embedded database folder', () => {
  it('keeps data across reopen and refuses a second process on the same folder', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tillit-data-'));
    try {
      const db = await openDatabase({ dataDir, database: { poolSize: 1 } });
      await db.query('create table kept (x int)');
      await db.query('insert into kept values (42)');
      await writeFile(join(dataDir, 'tillit.pid'), String(process.ppid));
      await db.close();
      await mkdir(dataDir, { recursive: true });
      await writeFile(join(dataDir, 'tillit.pid'), String(process.ppid));
      await assert.rejects(openDatabase({ dataDir, database: { poolSize: 1 } }), (error: Error) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.match(error.message, new RegExp(`in use by process ${process.ppid}`));
        return true;
      });
      await writeFile(join(dataDir, 'tillit.pid'), '999999999');
      const reopened = await openDatabase({ dataDir, database: { poolSize: 1 } });
      assert.deepEqual(await reopened.query('select x from kept'), [{ x: 42 }]);
      await reopened.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('waits for a pooled PostgreSQL connection as long as database.connectionTimeoutMs says, then gives up', { skip: !process.env['DATABASE_URL'] && 'needs DATABASE_URL' }, async () => {
    /** Holds the pool's one connection in a transaction until `release`. */
    const hold = (db: Database) => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const busy = db.transaction(async (tx) => {
        await tx.query('select 1');
        await held;
      });
      return async () => {
        release();
        await busy;
      };
    };
    const impatient = await openDatabase({ dataDir: 'memory://', database: { url: process.env['DATABASE_URL'], poolSize: 1, connectionTimeoutMs: 200 } });
    const releaseImpatient = hold(impatient);
    try {
      await assert.rejects(impatient.query('select 1'), /timeout/i);
    } finally {
      await releaseImpatient();
    }
    assert.deepEqual(await impatient.query('select 1 as one'), [{ one: 1 }], 'the pool serves again once the connection is free');
    await impatient.close();

    // Longer than the 5 s the pool once had built in: the queued query is served when the connection comes free.
    const patient = await openDatabase({ dataDir: 'memory://', database: { url: process.env['DATABASE_URL'], poolSize: 1, connectionTimeoutMs: 20_000 } });
    const releasePatient = hold(patient);
    const queued = patient.query<{ one: number }>('select 1 as one');
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    await releasePatient();
    assert.deepEqual(await queued, [{ one: 1 }]);
    await patient.close();
  });

  it('reports an unreachable PostgreSQL without its password', async () => {
    await assert.rejects(
      openDatabase({ dataDir: 'memory://', database: { url: 'postgres://user:hunter2@127.0.0.1:1/none', poolSize: 1 } }),
      (error: Error) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.match(error.message, /PostgreSQL at postgres:\/\/user:\*\*\*@127\.0\.0\.1:1\/none is not reachable/);
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      },
    );
  });
});
