import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { serverHostNames, type Config } from '../config/index.ts';
import { isMigrated, migrate, openDatabase, openEphemeralStore, readMigrations, type Database, type EphemeralStore } from '../store/index.ts';
import {
  buildHttpApp,
  buildHttpsApp,
  createMetrics,
  functionCaCertificateMaker,
  loadOrCreateServerCertificate,
  selfSignedCertificate,
  type Part,
  type PartContext,
  type PartFactory,
  type Readiness,
  type ServerCertificateMaker,
  type TlsCredentials,
} from '../server/index.ts';
import { selectParts } from './parts.ts';
import { pkiFrom } from '../pki/index.ts';
import { resolveSchedules, startScheduler, thisNode, type Scheduler } from '../jobs/index.ts';

export interface RunningSystem {
  readonly httpsUrl: string;
  readonly httpUrl: string;
  readonly parts: readonly Part[];
  /** The certificate HTTPS serves, so clients (and tests) can trust it. */
  readonly tls: TlsCredentials;
  /** Lines to show a person after a first start: what the demo seeded. */
  readonly demoLines: readonly string[];
  readonly log: Logger;
  /** The durable store the parts run on (for operations and tests). */
  readonly db: Database;
  /** Stops accepting, lets in-flight requests finish, then closes the stores. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log?: Logger;
  readonly now?: () => Date;
  /** The parts this system can run; the build's own by default. */
  readonly available?: ReadonlyMap<string, PartFactory>;
}

const DEMO_STATE_KEY = 'demo_seeded';

/** JSON lines to stdout (fd 1) for the server; commands whose stdout is their output log to stderr (fd 2). */
export function createLogger(config: Config, fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level: config.log.level,
      base: { service: 'tillit' },
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '***' },
    },
    pino.destination({ fd, sync: fd === 2 }),
  );
}

/** Opens the stores and applies migrations: what `tillit migrate` and `start` share. */
export async function openStores(config: Config, log: Logger): Promise<{ db: Database; ephemeral: EphemeralStore; close(): Promise<void> }> {
  const db = await openDatabase(config);
  try {
    // Both stores must answer before the schema is touched, so a start that fails changes nothing.
    const ephemeral = await openEphemeralStore(config);
    try {
      const result = await migrate(db, await readMigrations());
      if (result.applied.length) log.info({ applied: result.applied, database: db.kind }, 'migrations applied');
    } catch (error) {
      await ephemeral.close();
      throw error;
    }
    return {
      db,
      ephemeral,
      async close() {
        await ephemeral.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}

/** Starts every configured part on the HTTPS and plain-HTTP servers. */
export async function startSystem(config: Config, options: StartOptions = {}): Promise<RunningSystem> {
  const log = options.log ?? createLogger(config);
  const now = options.now ?? (() => new Date());
  const factories = selectParts(config.parts, options.available);
  const stores = await openStores(config, log);
  const servers: FastifyInstance[] = [];
  const parts: Part[] = [];
  let scheduler: Scheduler | undefined;
  try {
    const context: PartContext = { config, db: stores.db, ephemeral: stores.ephemeral, log, now };
    const started = new Map<string, Part>();
    for (const [name, create] of factories) {
      const part = await create(context, started);
      parts.push(part);
      started.set(name, part);
    }
    const demoLines = config.demo.seed ? await seedDemoOnce(stores.db, parts, log) : [];
    const scheduledJobs = resolveSchedules(parts.flatMap((part) => part.jobs ?? []), config.jobs);
    if (config.jobs.scheduler) scheduler = startScheduler({ db: stores.db, log, now, node: thisNode(), leaseMs: config.jobs.leaseSeconds * 1_000 }, scheduledJobs, config.jobs);
    const tls = await loadTls(config, started);
    log.info({ source: tls.source }, 'TLS certificate');
    const migrations = await readMigrations();
    const readiness: Readiness = {
      async check() {
        const checks = {
          database: await stores.db.query('select 1').then(() => true, () => false),
          migrations: await isMigrated(stores.db, migrations).catch(() => false),
          ephemeralStore: await stores.ephemeral.ping(),
        };
        return { ready: Object.values(checks).every(Boolean), checks };
      },
    };
    const deps = { config, log, parts, metrics: createMetrics(), readiness };
    const https = await buildHttpsApp(deps, tls);
    servers.push(https);
    const http = await buildHttpApp(deps);
    servers.push(http);
    const httpsPort = await listen(https, config.server.host, config.server.httpsPort);
    const httpPort = await listen(http, config.server.host, config.server.httpPort);
    const hostForUrl = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
    return {
      httpsUrl: `https://${hostForUrl}:${httpsPort}`,
      httpUrl: `http://${hostForUrl}:${httpPort}`,
      parts,
      tls,
      demoLines,
      log,
      db: stores.db,
      async stop() {
        await Promise.all(servers.map((s) => s.close()));
        await scheduler?.stop();
        for (const part of [...parts].reverse()) await part.stop?.();
        await stores.close();
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.close()));
    await scheduler?.stop().catch(() => {});
    for (const part of parts.reverse()) await part.stop?.().catch(() => {});
    await stores.close();
    throw error;
  }
}

async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  return (app.server.address() as AddressInfo).port;
}

/** A configured certificate; else one from the PKI's function CA when the PKI runs; else a self-signed one. */
async function loadTls(config: Config, started: ReadonlyMap<string, Part>): Promise<TlsCredentials> {
  const { certFile, keyFile } = config.server.tls;
  if (certFile && keyFile) {
    const cert = await readFile(certFile, 'utf8');
    return { cert, key: await readFile(keyFile, 'utf8'), ca: cert, source: certFile };
  }
  const make: ServerCertificateMaker = started.has('pki') ? functionCaCertificateMaker((hostNames) => pkiFrom(started).serverTls(hostNames)) : selfSignedCertificate;
  return loadOrCreateServerCertificate(config.dataDir, serverHostNames(config.server.publicBaseUrl), make);
}

/**
 * The first start of an empty installation seeds the demo region, once. The
 * marker is written after every part has seeded, so a seed that failed is
 * tried again on the next start; each part's seed must therefore be idempotent.
 */
async function seedDemoOnce(db: Database, parts: readonly Part[], log: Logger): Promise<string[]> {
  const [done] = await db.query('select 1 from system_state where key = $1', [DEMO_STATE_KEY]);
  if (done) return [];
  const lines: string[] = [];
  for (const part of parts) if (part.seedDemo) lines.push(...(await part.seedDemo()));
  await db.query('insert into system_state (key, value) values ($1, $2) on conflict (key) do nothing', [
    DEMO_STATE_KEY,
    JSON.stringify({ at: new Date().toISOString(), parts: parts.map((p) => p.name) }),
  ]);
  log.info({ parts: parts.map((p) => p.name) }, 'demo region seeded');
  return lines;
}
