// Complete out-of-band orders per second — the caller starts an order, the
// eID app claims it, signs the challenge with its PIN-protected key and
// answers, the caller collects the person — over HTTPS through the real
// checks (signature, chain, revocation, directory), on PostgreSQL + Redis and
// on the embedded stores; beside `openssl speed` for the ECDSA P-256 signing
// and verifying every order needs. Then memory per pending order: process
// heap (memory store) and Redis used_memory, each delta divided by N.
// CPU ms/order is this process's CPU time (server, app and caller together;
// not PostgreSQL's or Redis's) per order: on a shared machine it says more
// than orders/s, which the other processes' load holds down.
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { enrollMobileEid, openKeyStore, type KeyStore, type ShownChallenge } from '../src/app/index.ts';
import { addCaller, authnFrom, createAuthnPart, createOrderService } from '../src/authn/index.ts';
import { createDirectoryPart, listOrganisationPersons, PUBLIC_VIEWER } from '../src/directory/index.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { createMemoryStore, openEphemeralStore } from '../src/store/index.ts';
import { startTestSystem } from '../test/support/system.ts';
import { systemStoreTargets } from '../test/support/system-stores.ts';
import { median, percentile, printTable } from './support.ts';

const ORDERS = Number(process.env['BENCH_ORDERS'] ?? 600);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const PENDING = Number(process.env['BENCH_PENDING'] ?? 20_000);
const PIN = '271828';
const APPS = 4;

function httpsClient(ca: string, authorization: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2, ca });
  const post = (url: string, body: unknown, withCaller = false) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
      if (withCaller) headers['authorization'] = authorization;
      const req = request(url, { method: 'POST', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`${url}: ${res.statusCode} ${JSON.stringify(json)}`));
          else resolve(json);
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  return { post, close: () => agent.destroy() };
}

/** One complete order: start → claim → PIN, sign → answer → collect, checked to complete with the app's person. */
async function oneOrder(post: ReturnType<typeof httpsClient>['post'], base: string, keys: KeyStore, personnummer: string): Promise<void> {
  const started = await post(`${base}/authn/v1/auth`, { endUserIp: '192.0.2.1', requirement: { personalIdentityNumber: personnummer } }, true);
  const challenge = (await post(`${base}/app/v1/claim`, { autoStartToken: started['autoStartToken'] })) as unknown as ShownChallenge;
  const credential = keys.list()[0]!;
  const signature = await keys.sign(credential.id, PIN, Buffer.from(challenge.toSign, 'base64'));
  await post(`${base}/app/v1/answer`, { orderRef: challenge.orderRef, nonce: challenge.nonce, signature: signature.toString('base64'), certificate: credential.certificatePem });
  const collected = await post(`${base}/authn/v1/collect`, { orderRef: started['orderRef'] }, true);
  const user = (collected['completionData'] as { user?: { personalIdentityNumber?: string } } | undefined)?.user;
  if (collected['status'] !== 'complete' || user?.personalIdentityNumber !== personnummer) throw new Error(`order did not complete correctly: ${JSON.stringify(collected)}`);
}

async function measureStores(target: ReturnType<typeof systemStoreTargets>[number]) {
  const { overrides, cleanup } = await target.stores();
  const home = await mkdtemp(join(tmpdir(), 'tillit-bench-authn-'));
  const system = await startTestSystem({ ...overrides, demo: { seed: true }, directory: { demo: { persons: 30 } }, authn: { oob: { maxOrdersPerMinute: 1_000_000 } } }, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
  try {
    const authn = authnFrom(new Map(system.parts.map((p) => [p.name, p])));
    const { secret } = await addCaller(system.db, 'idp.bench', 'Benchmark');
    const persons = await listOrganisationPersons(system.db, 'SE2321000008-0001', PUBLIC_VIEWER, APPS);
    const apps: { keys: KeyStore; personnummer: string }[] = [];
    for (const [index, person] of persons.entries()) {
      const keys = await openKeyStore(join(home, `app-${index}`));
      const { code } = await authn.enrolment.createCode(person.personnummer, 'bench');
      await enrollMobileEid(keys, PIN, (csr) => authn.enrolment.redeem(code, csr));
      apps.push({ keys, personnummer: person.personnummer });
    }
    const client = httpsClient(system.tls.ca, `Basic ${Buffer.from(`idp.bench:${secret}`).toString('base64')}`);
    const flow = (i: number) => oneOrder(client.post, system.httpsUrl, apps[i % apps.length]!.keys, apps[i % apps.length]!.personnummer);
    for (let i = 0; i < 30; i++) await flow(i); // warm-up
    const latencies: number[] = [];
    let next = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < ORDERS; i = next++) {
          const t = performance.now();
          await flow(i);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    client.close();
    return { perSecond: ORDERS / seconds, p50: median(latencies), p99: percentile(latencies, 99), cpuMs: (cpu.user + cpu.system) / 1000 / ORDERS };
  } finally {
    await system.stop();
    await cleanup();
    await rm(home, { recursive: true, force: true });
  }
}

/** ECDSA P-256 signatures and verifications per second from `openssl speed` on this machine, now (one core). */
function opensslEcdsa(): { sign: number; verify: number } {
  const out = execFileSync('openssl', ['speed', '-seconds', '2', 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const row = out.split('\n').find((l) => /^\s*256 bits ecdsa \(nistp256\)/.test(l));
  const numbers = row?.trim().split(/\s+/).map(Number).filter((n) => !Number.isNaN(n)) ?? [];
  // "256 bits ecdsa (nistp256)   0.0000s   0.0001s   40000.0   12000.0": the last two are sign/s and verify/s.
  return { sign: numbers.at(-2) ?? 0, verify: numbers.at(-1) ?? 0 };
}

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Pending orders held by the order service: heap delta per order (memory store), used_memory delta per order (Redis). */
async function memoryPerPendingOrder(): Promise<Record<string, string | number>[]> {
  const verifyAnswer = async () => ({ ok: false as const, hint: 'certificateErr' as const, reason: 'unused' });
  const start = (orders: ReturnType<typeof createOrderService>, i: number) => orders.start({ kind: 'auth', requester: { clientId: 'idp.bench', displayName: 'Benchmark' }, endUserIp: '192.0.2.1', userVisibleText: `Logga in till Journalen (${i})` });
  const rows: Record<string, string | number>[] = [];
  const memoryStore = createMemoryStore();
  const memoryOrders = createOrderService({ store: memoryStore, verifyAnswer, maxOrdersPerMinute: PENDING * 2 });
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < PENDING; i++) await start(memoryOrders, i);
  gc();
  const after = process.memoryUsage().heapUsed;
  rows.push({ store: 'memory (process heap)', 'pending orders': PENDING, 'bytes per order': Math.round((after - before) / PENDING) });
  await memoryStore.close();
  const url = process.env['REDIS_URL'];
  if (url) {
    const prefix = `tillit-bench:${Date.now()}:`;
    const redis = new Redis(url);
    const usedMemory = async () => Number((await redis.info('memory')).match(/used_memory:(\d+)/)![1]);
    const store = await openEphemeralStore({ redis: { url, keyPrefix: prefix } });
    const orders = createOrderService({ store, verifyAnswer, maxOrdersPerMinute: PENDING * 2 });
    const redisBefore = await usedMemory();
    await Promise.all(Array.from({ length: 16 }, async (_, lane) => {
      for (let i = lane; i < PENDING; i += 16) await start(orders, i);
    }));
    const redisAfter = await usedMemory();
    rows.push({ store: 'Redis (used_memory)', 'pending orders': PENDING, 'bytes per order': Math.round((redisAfter - redisBefore) / PENDING) });
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await store.close();
    redis.disconnect();
  }
  return rows;
}

const targets = systemStoreTargets().reverse();
const rows: Record<string, string | number>[] = [];
for (const target of targets) {
  const result = await measureStores(target);
  rows.push({ measure: `complete OOB orders/s, ${target.name}`, value: result.perSecond, 'p50 ms': result.p50, 'p99 ms': result.p99, 'CPU ms/order': result.cpuMs });
}
if (targets.length === 1) rows.push({ measure: 'PostgreSQL + Redis', value: 'skipped: set DATABASE_URL and REDIS_URL' });
const ecdsa = opensslEcdsa();
rows.push({ measure: 'reference: openssl speed ecdsap256 sign/s (one core)', value: ecdsa.sign });
rows.push({ measure: 'reference: openssl speed ecdsap256 verify/s (one core)', value: ecdsa.verify });
printTable(`Out-of-band orders, start → app approve → collect over HTTPS (${ORDERS} orders, ${CONCURRENCY} at a time; each needs 1 ECDSA signature by the app and 2 verifications: the answer, the certificate)`, rows);
printTable('Memory per pending order', await memoryPerPendingOrder());
