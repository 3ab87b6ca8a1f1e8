import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { openDatabase } from '../src/store/index.ts';
import { call } from './support/http.ts';
import { openssl, opensslCsr, scratch } from './support/openssl.ts';

const BIN = new URL('../bin/tillit.js', import.meta.url).pathname;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `tillit` command with only the environment given (plus PATH). */
function tillit(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertOneLineError(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${run.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

describe('tillit command line', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tillit-cli-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('prints its version and help at every level', async () => {
    const version = await tillit(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const help = await tillit(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['start', 'migrate', 'config']) assert.match(help.stdout, new RegExp(`^  ${command}`, 'm'));
    const configHelp = await tillit(['config', '--help']);
    assert.match(configHelp.stdout, /print \[options\]/);
    const printHelp = await tillit(['config', 'print', '--help']);
    assert.match(printHelp.stdout, /--json/);
  });

  it('refuses unknown flags and commands with one line and exit code 2', async () => {
    assertOneLineError(await tillit(['--bogus']), 2, /^tillit: unknown option '--bogus'$/);
    assertOneLineError(await tillit(['start', '--port', '1']), 2, /^tillit: unknown option '--port' \(did you mean --parts\?\)$/);
    assertOneLineError(await tillit(['strat']), 2, /^tillit: unknown command 'strat' \(did you mean start\?\)$/);
  });

  it('prints the effective config with secrets masked', async () => {
    const run = await tillit(['config', 'print', '--json'], { DATABASE_URL: 'postgres://tillit:topsecret@db/tillit', TILLIT_SERVER__HTTPS_PORT: '9443' });
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.server.httpsPort, 9443);
    assert.equal(printed.database.url, 'postgres://tillit:***@db/tillit');
    assert.doesNotMatch(run.stdout, /topsecret/);
  });

  it('stops on a malformed config file or a bad value with one line naming it', async () => {
    const file = join(dataDir, 'broken.json');
    await writeFile(file, '{"server": ');
    assertOneLineError(await tillit(['--config', file, 'config', 'print']), 1, new RegExp(`^tillit: config file ${file} is not valid JSON`));
    assertOneLineError(await tillit(['config', 'print'], { TILLIT_CONFIG: join(dataDir, 'missing.json') }), 1, /cannot be read: ENOENT$/);
    assertOneLineError(await tillit(['start'], { TILLIT_LOG__LEVEL: 'loud' }), 1, /^tillit: invalid configuration: log\.level \(from TILLIT_LOG__LEVEL\): /);
  });

  it('stops with one line when the database or Redis cannot be reached, leaving the schema untouched', async () => {
    assertOneLineError(await tillit(['migrate'], { DATABASE_URL: 'postgres://tillit:pw@127.0.0.1:1/tillit' }), 1, /^tillit: PostgreSQL at postgres:\/\/tillit:\*\*\*@127\.0\.0\.1:1\/tillit is not reachable/);
    const untouched = join(dataDir, 'untouched');
    assertOneLineError(await tillit(['start'], { TILLIT_DATA_DIR: untouched, REDIS_URL: 'redis://127.0.0.1:1' }), 1, /^tillit: Redis at redis:\/\/127\.0\.0\.1:1\/? is not reachable/);
    const db = await openDatabase({ dataDir: untouched, database: { poolSize: 1 } });
    try {
      const tables = await db.query(`select table_name from information_schema.tables where table_schema = 'public'`);
      assert.deepEqual(tables, []);
    } finally {
      await db.close();
    }
  });

  it('registers authentication-service callers, showing the secret once', async () => {
    const env = { TILLIT_DATA_DIR: join(dataDir, 'callers') };
    const added = await tillit(['authn', 'callers', 'add', '--id', 'idp.region', '--name', 'Regionens IdP', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    const { id, secret } = JSON.parse(added.stdout);
    assert.equal(id, 'idp.region');
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assertOneLineError(await tillit(['authn', 'callers', 'add', '--id', 'idp.region', '--name', 'Again'], env), 1, /^tillit: caller 'idp\.region' already exists$/);
    assertOneLineError(await tillit(['authn', 'callers', 'add', '--id', 'idp.region'], env), 2, /^tillit: required option '--name <name>' not specified$/);
    const listed = await tillit(['authn', 'callers', 'list', '--json'], env);
    assert.deepEqual(JSON.parse(listed.stdout).map((c: { id: string; displayName: string }) => [c.id, c.displayName]), [['idp.region', 'Regionens IdP']]);
    assert.doesNotMatch(listed.stdout, new RegExp(secret));
  });

  it('runs the PKI from the command line: list CAs, issue, status, revoke, CRL — checked with OpenSSL', async () => {
    const env = { TILLIT_DATA_DIR: join(dataDir, 'pki') };
    const cas = await tillit(['pki', 'ca', 'list', '--json'], env);
    assert.equal(cas.code, 0, cas.stderr);
    assert.equal(JSON.parse(cas.stdout).length, 9);
    const files = scratch();
    try {
      const csr = files.file('server.csr', opensslCsr(files, 'server', { subject: '/CN=app.region.example/serialNumber=SE2321000016-F100', san: 'DNS:app.region.example' }));
      const issued = await tillit(['pki', 'issue', '--profile', 'function-server', '--csr', csr, '--json'], env);
      assert.equal(issued.code, 0, issued.stderr);
      const { serial, pem } = JSON.parse(issued.stdout);
      const chain = files.file('chain.pem', pem);
      assert.match(openssl(['x509', '-in', chain, '-noout', '-ext', 'subjectAltName']).output, /DNS:app\.region\.example/);
      assert.match((await tillit(['pki', 'status', '--serial', serial], env)).stdout, new RegExp(`^${serial} good`));
      const revoked = await tillit(['pki', 'revoke', '--serial', serial, '--reason', 'keyCompromise', '--invalidity-date', '2026-01-02T03:04:05Z'], env);
      assert.match(revoked.stdout, /^revoked [0-9a-f]+ \(keyCompromise\)/);
      assert.match((await tillit(['pki', 'revoke', '--serial', serial, '--reason', 'superseded'], env)).stdout, /already revoked \(keyCompromise\); nothing changed/);
      const crlFile = files.path('function.crl');
      assert.equal((await tillit(['pki', 'crl', '--ca', 'function', '--out', crlFile], env)).code, 0);
      assert.match(openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']).output, new RegExp(`Serial Number: ${serial.toUpperCase()}[\\s\\S]*Invalidity Date:`));
      const subject = files.file('subject.json', JSON.stringify({ commonName: 'Testkort', serialNumber: '191212121212' }));
      const card = await tillit(['pki', 'issue', '--profile', 'test', '--subject-json', subject, '--key-out', files.path('card.key'), '--out', files.path('card.pem')], env);
      assert.equal(card.code, 0, card.stderr);
      assert.match(openssl(['pkey', '-in', files.path('card.key'), '-noout', '-text']).output, /prime256v1/);
      assertOneLineError(await tillit(['pki', 'issue', '--profile', 'function-server', '--csr', files.file('junk.csr', 'junk')], env), 1, /^tillit: the CSR cannot be read/);
      assertOneLineError(await tillit(['pki', 'issue', '--profile', 'nonsense', '--csr', csr], env), 2, /^tillit: option '--profile <profile>' argument 'nonsense' is invalid/);
      assertOneLineError(await tillit(['pki', 'revoke', '--serial', 'xyz', '--reason', 'keyCompromise'], env), 1, /is not a certificate serial number/);
      assertOneLineError(await tillit(['pki', 'revoke', '--serial', serial, '--reason', 'keyCompromise', '--invalidity-date', 'yesterday'], env), 1, /is not a time/);
    } finally {
      files.done();
    }
  });

  it('migrates an empty database and reports it', async () => {
    const run = await tillit(['migrate', '--json'], { TILLIT_DATA_DIR: join(dataDir, 'migrated') });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.database, 'pglite');
    assert.equal(result.applied.length, result.known);
    assert.ok(result.applied.some((m: { name: string }) => m.name === '0001_system_state.sql'));
  });
});

describe('tillit start', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tillit-start-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  const env = () => ({ TILLIT_DATA_DIR: dataDir, TILLIT_SERVER__HOST: '127.0.0.1', TILLIT_SERVER__HTTPS_PORT: '0', TILLIT_SERVER__HTTP_PORT: '0', TILLIT_AUTHN__MTLS__PORT: '0', TILLIT_AUTHN__CALLER_MTLS__PORT: '0', TILLIT_OIDC__MTLS__PORT: '0' });

  async function startProcess(): Promise<{ child: ChildProcess; httpsUrl: string; output: () => string; exited: Promise<[number | null]> }> {
    const child = spawn(process.execPath, [BIN, 'start'], { env: { PATH: process.env['PATH'] ?? '', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const httpsUrl = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d;
        output += d;
        const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.on('exit', () => reject(new Error(`tillit start exited early:\n${stderr}`)));
    });
    return { child, httpsUrl, output: () => output, exited };
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serves until ${signal}, then shuts down cleanly with exit code 0`, async () => {
      const running = await startProcess();
      const health = await call(`${running.httpsUrl}/healthz`, { ca: await readDevCert(dataDir) });
      assert.equal(health.status, 200);
      running.child.kill(signal);
      const [code] = await running.exited;
      assert.equal(code, 0, running.output());
      const logLines = running.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
      assert.ok(logLines.some((l) => l.msg === 'stopped'));
      assert.ok(logLines.every((l) => typeof l.level === 'number' && typeof l.time === 'number'));
      assert.ok(logLines.filter((l) => l.msg === 'request completed').every((l) => typeof l.requestId === 'string'));
    });
  }

  it('refuses to open a data folder another running process holds', async () => {
    const running = await startProcess();
    try {
      assertOneLineError(await tillit(['start'], env()), 1, new RegExp(`^tillit: data folder .* is in use by process ${running.child.pid}`));
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  });
});

async function readDevCert(dataDir: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(join(dataDir, 'tls', 'server-ca.crt'), 'utf8');
}
