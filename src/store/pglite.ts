import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { INT8_OID, StoreUnavailableError, type Database, type Queryable } from './database.ts';

const LOCK_FILE = 'tillit.pid';

/**
 * Opens the embedded PostgreSQL (PGlite) in `dataDir`, or in memory for
 * `memory://`. PGlite is single-process: a pid file keeps a second process
 * from opening the same folder and corrupting it.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir === 'memory://';
  const pgDir = inMemory ? undefined : join(dataDir, 'pg');
  const releaseLock = inMemory ? async () => {} : await lockDataDir(dataDir);
  let pg: PGlite;
  try {
    pg = await PGlite.create(pgDir, { parsers: { [INT8_OID]: (value: string) => Number(value) } });
  } catch (cause) {
    await releaseLock();
    throw new StoreUnavailableError(`embedded database in ${dataDir} could not be opened: ${(cause as Error).message}`, { cause });
  }
  const run = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      const result = await q.query<R>(text, params as unknown[]);
      return result.rows;
    },
    async exec(script: string) {
      await q.exec(script);
    },
  });
  return {
    kind: 'pglite',
    ...run(pg),
    transaction: (work) => pg.transaction((tx) => work(run(tx))),
    async close() {
      await pg.close();
      await releaseLock();
    },
  };
}

async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new StoreUnavailableError(`data folder ${dataDir} is in use by process ${holder}; stop it first or set TILLIT_DATA_DIR to another folder`);
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new StoreUnavailableError(`could not lock data folder ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
