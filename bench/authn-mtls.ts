// Card logins over mutual TLS per second, beside OpenSSL doing the TLS part
// alone with the same certificates, in the same run. The load is `openssl
// s_time -new` (a full handshake with the card's certificate for every
// connection, then one GET) against: `openssl s_server -www` asking for a
// client certificate; Tillit's card-login listener on /healthz (handshake,
// no checks); and Tillit's /authn/card/login (handshake, then every eID
// check: chain, validity, key usage, policy → LoA, revocation through the
// PKI, person in the directory, the outcome stored under a one-time handle).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { authnFrom } from '../src/authn/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { pkiFrom } from '../src/pki/index.ts';
import { startSystem } from '../src/system/index.ts';
import { freshSchema } from '../test/support/schema.ts';
import { printTable } from './support.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'tillit-bench-mtls-'));

// Every decision the listener makes is logged once; counting them proves each connection was really checked.
let accepted = 0;
const counter = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.includes('"card login accepted"')) accepted++;
    done();
  },
});

// PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (a fresh schema and key prefix), else the embedded PGlite and memory.
const databaseUrl = process.env['DATABASE_URL'];
const schema = databaseUrl ? await freshSchema(databaseUrl, 'bench_mtls') : undefined;
const scopedUrl = schema?.url;
const config = loadConfig({
  env: { ...(scopedUrl ? { DATABASE_URL: scopedUrl } : {}), ...(process.env['REDIS_URL'] ? { REDIS_URL: process.env['REDIS_URL'] } : {}) },
  overrides: {
    dataDir: join(dir, 'data'),
    server: { host: '127.0.0.1', httpsPort: 0, httpPort: 0 },
    // One request is checked thousands of times here; in service a login causes a handful.
    authn: { mtls: { port: 0, checksPerRequest: 10_000_000 }, callerMtls: { port: 0 } },
    parts: ['pki', 'directory', 'authn'],
    directory: { demo: { persons: 200 } },
    pki: { keyPassphrase: 'bench passphrase 0123456789' },
    redis: { keyPrefix: `${schema?.name ?? `bench_mtls_${randomBytes(4).toString('hex')}`}:` },
  },
});
const system = await startSystem(config, { log: pino({ level: 'info' }, counter) });
const started = new Map(system.parts.map((p) => [p.name, p]));
const pki = pkiFrom(started);
const cards = authnFrom(started).cardLogins!;
const [person] = await system.db.query<{ hsaId: string; givenName: string; surname: string }>(
  `select s.hsa_id as "hsaId", p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
);
const card = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: person!.hsaId });
const file = (name: string, content: string) => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};
const cardCert = file('card.pem', card.certificatePem);
const cardKey = file('card.key', card.privateKeyPem);
const root = file('root.pem', system.tls.ca);
// The listener's own certificate (function CA, every rolling name), as it was kept in the data folder: s_server serves the same.
const serverCert = join(config.dataDir, 'tls-mtls', 'server.crt');
const serverKey = join(config.dataDir, 'tls-mtls', 'server.key');
const anchors = ['root', 'person-hsa-loa3', 'person-pnr-loa3', 'mobile', 'person-hsa-loa2', 'person-pnr-loa2'].map((id) => pki.caCertificate(id as 'root')!.certificate.toString('pem').trim()).join('\n');
const acceptable = file('acceptable.pem', `${anchors}\n`);
const { requestId } = await cards.begin({ requester: { clientId: 'bench', displayName: 'Bench' }, returnTo: `${config.server.publicBaseUrl}/back` });
const listenerPort = Number(new URL((await cards.nextAttempt(requestId, 0) as { url: string }).url).port);

/** `openssl s_time -new` for SECONDS: new TLS connections per second, each with the card's certificate and one GET. */
function sTime(port: number, page: string): Promise<{ perSecond: number; connections: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(SECONDS), '-cert', cardCert, '-key', cardKey, '-CAfile', root, '-www', page], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('close', () => {
      const match = /(\d+) connections in ([\d.]+) real seconds/.exec(out);
      if (!match) return reject(new Error(`s_time printed no result:\n${out}`));
      resolve({ connections: Number(match[1]), perSecond: Number(match[1]) / Number(match[2]) });
    });
  });
}

const rows: Record<string, string | number>[] = [];

// OpenSSL's own server: the same server certificate and key, asks for (does not require) the client certificate.
const sServerPort = listenerPort + 1 === 65536 ? listenerPort - 1 : listenerPort + 1;
const sServer = spawn('openssl', ['s_server', '-accept', String(sServerPort), '-cert', serverCert, '-key', serverKey, '-verify', '3', '-CAfile', acceptable, '-www', '-quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
let sServerErrors = '';
sServer.stderr.on('data', (d: Buffer) => (sServerErrors += d));
// s_server says nothing when it listens: wait for the port to take connections.
for (let tries = 0; ; tries++) {
  const open = await new Promise<boolean>((resolve) => connect(sServerPort, '127.0.0.1').once('connect', function (this: Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
  if (open) break;
  if (tries > 50) throw new Error(`openssl s_server did not start: ${sServerErrors}`);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const openssl = await sTime(sServerPort, '/');
sServer.kill();
rows.push({ server: 'openssl s_server -www (client certificate asked for)', 'handshakes/s': openssl.perSecond, connections: openssl.connections, 'vs openssl': '1.00' });

const bare = await sTime(listenerPort, '/healthz');
rows.push({ server: 'Tillit card listener, /healthz (TLS + HTTP only)', 'handshakes/s': bare.perSecond, connections: bare.connections, 'vs openssl': (bare.perSecond / openssl.perSecond).toFixed(2) });

const before = accepted;
const logins = await sTime(listenerPort, `/authn/card/login?request=${requestId}`);
// Logging is asynchronous: give the last lines a moment.
await new Promise((resolve) => setTimeout(resolve, 300));
const checked = accepted - before;
rows.push({ server: 'Tillit card login (TLS + every eID check + directory + handle)', 'handshakes/s': logins.perSecond, connections: logins.connections, 'vs openssl': (logins.perSecond / openssl.perSecond).toFixed(2), 'logins accepted': checked });

printTable(`mTLS card logins/s (ECDSA P-256 server and card certificates, TLS 1.3, one s_time -new client (sequential connections) for ${SECONDS} s; ${system.db.kind} + ${config.redis.url ? 'Redis' : 'memory'}, ${readFileSync(serverCert, 'utf8').split('BEGIN CERTIFICATE').length - 1}-certificate server chain)`, rows);
const version = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
console.log(`\n${version}; Node ${process.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores; ${checked} of ${logins.connections} logins were logged as accepted after the full check.`);

await system.stop();
rmSync(dir, { recursive: true, force: true });
await schema?.drop();
