// PKI figures, each beside OpenSSL doing the same work in the same run:
// CRL generation (100k and 1M revoked entries) beside `openssl ca -gencrl`,
// OCSP answers/s over loopback HTTP beside `openssl ocsp -index -port`, and
// issuance from CSRs per second beside `openssl speed`'s signing rate.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { request, Agent } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config/index.ts';
import { openPki } from '../src/pki/index.ts';
import { migrate, openDatabase, readMigrations } from '../src/store/index.ts';
import { freshSchema } from '../test/support/schema.ts';
import { printTable } from './support.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const SIZES = (process.env['BENCH_CRL_SIZES'] ?? '100000,1000000').split(',').map(Number);
const url = process.env['DATABASE_URL'];
if (!url) throw new Error('bench pki runs on PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

const dir = mkdtempSync(join(tmpdir(), 'tillit-bench-pki-'));
const schema = await freshSchema(url, 'bench_pki');
const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://', database: { url: schema.url }, pki: { keyPassphrase: 'bench passphrase 0123456789' } } });
const db = await openDatabase(config);
await migrate(db, await readMigrations());
const pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => new Date() });
const rows: Record<string, string | number>[] = [];

function sh(command: string, args: string[], options: { cwd?: string } = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** Peak RSS of a child process, from GNU time. */
function timed(command: string, args: string[], cwd: string): { seconds: number; peakMiB: number } {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return { seconds: (performance.now() - started) / 1000, peakMiB: Number(result.stderr.trim().split('\n').at(-1)) / 1024 };
}

// --- CRL -------------------------------------------------------------------
const function_ca = pki.caCertificate('function')!;
writeFileSync(join(dir, 'ca.pem'), function_ca.certificate.toString('pem'));
// OpenSSL signs with a P-256 key of its own: the signature is one operation either way.
sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ossl.key'), '-out', join(dir, 'ossl.pem'), '-subj', '/CN=OpenSSL bench CA', '-days', '30']);
let inserted = 0;
for (const size of SIZES) {
  await db.query(
    `insert into pki_certificates (serial, ca_id, profile, subject, not_before, not_after, der, revoked_at, revocation_reason, invalidity_date)
     select '7' || lpad(to_hex(g), 31, '0'), 'function', 'function-client', 'CN=bench', now(), now() + interval '1 year', '\\x00', now() - (g % 1000) * interval '1 minute',
            (array['keyCompromise','superseded','cessationOfOperation','affiliationChanged'])[1 + g % 4], case when g % 3 = 0 then now() - interval '2 days' end
       from generate_series($1::int, $2::int) g`,
    [inserted + 1, size],
  );
  inserted = size;
  // A million rows loaded at once have no planner statistics yet; autovacuum would gather them within a minute in production.
  await db.query('analyze pki_certificates');
  await db.query(`insert into pki_ca_revisions (ca_id, revision) values ('function', 1) on conflict (ca_id) do update set revision = pki_ca_revisions.revision + 1`);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const crl = await pki.currentCrl('function');
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  writeFileSync(join(dir, 'ours.crl'), crl.der);
  const check = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'ours.crl'), '-noout', '-CAfile', join(dir, 'ca.pem')], { encoding: 'utf8' });
  rows.push({ what: `CRL, ${size.toLocaleString('en')} entries: Tillit (from PostgreSQL)`, seconds, 'peak MiB': (peak - rssBefore) / 1048576, bytes: crl.der.length, 'openssl verify': /verify OK/.test(check.stderr + check.stdout) ? 'OK' : 'FAIL' });

  // The same entries as an OpenSSL CA database.
  const lines: string[] = [];
  const expiry = '271231235959Z';
  for (let g = 1; g <= size; g++) {
    const revoked = new Date(Date.now() - (g % 1000) * 60_000).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    lines.push(`R\t${expiry}\t${revoked},keyCompromise\t7${g.toString(16).padStart(31, '0').toUpperCase()}\tunknown\t/CN=bench`);
  }
  writeFileSync(join(dir, 'index.txt'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(
    join(dir, 'openssl.cnf'),
    `[ca]\ndefault_ca = bench\n[bench]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ncertificate = ${join(dir, 'ossl.pem')}\nprivate_key = ${join(dir, 'ossl.key')}\ndefault_md = sha256\ndefault_crl_days = 1\ncrl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid\n`,
  );
  const theirs = timed('openssl', ['ca', '-config', join(dir, 'openssl.cnf'), '-gencrl', '-out', join(dir, 'theirs.crl')], dir);
  const theirBytes = readFileSync(join(dir, 'theirs.crl')).length;
  rows.push({ what: `CRL, ${size.toLocaleString('en')} entries: openssl ca -gencrl (reference)`, seconds: theirs.seconds, 'peak MiB': theirs.peakMiB, bytes: theirBytes, 'openssl verify': 'n/a' });
}

// --- OCSP ------------------------------------------------------------------
const { default: Fastify } = await import('fastify');
const { pkiHttpRoutes } = await import('../src/pki/http.ts');
const app = Fastify();
await app.register(pkiHttpRoutes(pki));
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const issued = await pki.issueWithNewKey('function-client', { commonName: 'ocsp bench', serialNumber: 'SE2321000016-B001' });
writeFileSync(join(dir, 'leaf.pem'), issued.certificatePem);
sh('openssl', ['ocsp', '-issuer', join(dir, 'ca.pem'), '-cert', join(dir, 'leaf.pem'), '-no_nonce', '-reqout', join(dir, 'req.der')]);
sh('openssl', ['ocsp', '-issuer', join(dir, 'ca.pem'), '-cert', join(dir, 'leaf.pem'), '-reqout', join(dir, 'req-nonce.der')]);

/** Answers/s from wrk (a C load generator, so the client takes little of the two cores), keep-alive, 200s only. */
async function load(targetPort: number, body: Buffer, concurrency: number, seconds: number): Promise<number> {
  writeFileSync(join(dir, 'body.der'), body);
  writeFileSync(join(dir, 'post.lua'), `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/ocsp-request"\nlocal f = io.open("${join(dir, 'body.der')}", "rb")\nwrk.body = f:read("*all")\nf:close()\n`);
  const child = spawn('wrk', ['-t1', `-c${concurrency}`, `-d${seconds}s`, '-s', join(dir, 'post.lua'), `http://127.0.0.1:${targetPort}/ocsp`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  await once(child, 'exit');
  const total = Number(/(\d+) requests in ([\d.]+)s/.exec(out)?.[1] ?? NaN);
  const failed = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return (total - failed) / seconds;
}

const cachedRequest = readFileSync(join(dir, 'req.der'));
await load(port, cachedRequest, 8, 1);
rows.push({ what: 'OCSP answers/s, cached (wrk, 8 connections, keep-alive)', 'per second': await load(port, cachedRequest, 8, SECONDS) });
rows.push({ what: 'OCSP answers/s, with nonce: freshly signed (wrk, 8 connections)', 'per second': await load(port, readFileSync(join(dir, 'req-nonce.der')), 8, SECONDS) });
await app.close();

// openssl ocsp -port spins under concurrent load (OpenSSL issue #31129): one client, one request at a time.
writeFileSync(join(dir, 'ocsp-index.txt'), `V\t271231235959Z\t\t${issued.serial.toUpperCase()}\tunknown\t/CN=ocsp bench\n`);
writeFileSync(join(dir, 'fca.key'), (await import('node:crypto')).KeyObject.from(function_ca.signer.cryptoKey).export({ type: 'pkcs8', format: 'pem' }));
const opensslPort = 20_000 + Math.floor(Math.random() * 20_000);
const responder = spawn('openssl', ['ocsp', '-index', join(dir, 'ocsp-index.txt'), '-port', String(opensslPort), '-rsigner', join(dir, 'ca.pem'), '-rkey', join(dir, 'fca.key'), '-CA', join(dir, 'ca.pem'), '-nmin', '60'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const sequential = async (targetPort: number, body: Buffer): Promise<number> => {
  const agent = new Agent({ keepAlive: false });
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: targetPort, path: '/', method: 'POST', agent, headers: { 'content-type': 'application/ocsp-request', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) done++;
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  }
  return done / SECONDS;
};
rows.push({ what: 'OCSP answers/s: openssl ocsp -index -port (reference, sequential, one client)', 'per second': await sequential(opensslPort, cachedRequest) });
responder.kill();

// --- Issuance --------------------------------------------------------------
const csrs: string[] = [];
for (let i = 0; i < 200; i++) {
  sh('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.csr'), '-subj', `/CN=host${i}.region.example/serialNumber=SE2321000016-H${i}`, '-addext', `subjectAltName=DNS:host${i}.region.example`]);
  csrs.push(readFileSync(join(dir, 'c.csr'), 'utf8'));
}
/** Issues from the CSRs (each read, checked, signed and stored anew) for the given time, 8 at a time. */
async function issueFor(seconds: number): Promise<number> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let issuedCount = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; performance.now() < end; i += 8) {
        await pki.issueFromCsr('function-server', csrs[i % csrs.length]!);
        issuedCount++;
      }
    }),
  );
  return issuedCount / ((performance.now() - started) / 1000);
}
await issueFor(1);
rows.push({ what: 'issuance from CSR per second (PostgreSQL, ECDSA P-256 CA)', 'per second': await issueFor(SECONDS) });
const speed = sh('openssl', ['speed', '-seconds', '2', 'ecdsap256']);
const signs = Number(/256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/.exec(speed)?.[1] ?? NaN);
rows.push({ what: 'openssl speed ecdsap256: signatures/s (reference)', 'per second': signs });

printTable(`PKI (Node ${process.versions.node}, ${SECONDS} s per load run, load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores at the end)`, rows);
await db.close();
await schema.drop();
rmSync(dir, { recursive: true, force: true });
