// Start-up time and resident memory of `tillit start` on the embedded store,
// beside a bare `node -e` of the same binary as the floor no start can beat.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { request } from 'node:https';
import { median, printTable } from './support.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const BIN = new URL('../bin/tillit.js', import.meta.url).pathname;

function readyOnce(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/readyz`, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
}

/** One start: ms from spawn until /readyz answers 200, and RSS then and after 200 requests. */
async function measureStart(firstRun: boolean): Promise<{ readyMs: number; rssMiB: number; rssAfterLoadMiB: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tillit-bench-'));
  try {
    if (!firstRun) spawnSync(process.execPath, [BIN, 'migrate'], { env: { ...process.env, TILLIT_DATA_DIR: dataDir } });
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: { PATH: process.env['PATH'] ?? '', TILLIT_DATA_DIR: dataDir, TILLIT_SERVER__HOST: '127.0.0.1', TILLIT_SERVER__HTTPS_PORT: '0', TILLIT_SERVER__HTTP_PORT: '0', TILLIT_LOG__LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
        const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.on('exit', () => reject(new Error(stderr)));
    });
    const ca = await readFile(join(dataDir, 'tls', 'server-ca.crt'), 'utf8');
    while (!(await readyOnce(url, ca))) await new Promise((r) => setTimeout(r, 5));
    const readyMs = performance.now() - started;
    const rssMiB = (await rssKiB(child.pid!)) / 1024;
    for (let i = 0; i < 200; i++) await readyOnce(url, ca);
    const rssAfterLoadMiB = (await rssKiB(child.pid!)) / 1024;
    child.kill('SIGTERM');
    await once(child, 'exit');
    return { readyMs, rssMiB, rssAfterLoadMiB };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

function measureBareNode(): number {
  const started = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return performance.now() - started;
}

const rows: Record<string, string | number>[] = [];
for (const [label, firstRun] of [['tillit start, empty data folder (migrate + demo seed)', true], ['tillit start, migrated data folder', false]] as const) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measureStart(firstRun));
  rows.push({
    what: label,
    runs: RUNS,
    'median ready ms': median(runs.map((r) => r.readyMs)),
    'median RSS MiB': median(runs.map((r) => r.rssMiB)),
    'median RSS after 200 req MiB': median(runs.map((r) => r.rssAfterLoadMiB)),
  });
}
const bare = median(Array.from({ length: RUNS }, measureBareNode));
rows.push({ what: 'reference: node -e 0 (same Node)', runs: RUNS, 'median ready ms': bare, 'median RSS MiB': '', 'median RSS after 200 req MiB': '' });
for (const row of rows.slice(0, 2)) row['× reference'] = (row['median ready ms'] as number) / bare;
printTable(`Start-up of tillit start on the embedded store (Node ${process.versions.node})`, rows);
