import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway OpenLDAP server (Debian's slapd) on a free loopback port, with
 * the project's schema and an LDIF loaded: for tests, the benchmark and
 * trying the sync by hand. Needs the Debian packages slapd and ldap-utils.
 */

export const SLAPD_BINARY = '/usr/sbin/slapd';
export const SLAPADD_BINARY = '/usr/sbin/slapadd';
export const SCHEMA_FILE = new URL('./tillit-hsa.schema', import.meta.url).pathname;
const SYSTEM_SCHEMAS = ['core', 'cosine', 'inetorgperson'].map((name) => `/etc/ldap/schema/${name}.schema`);
const READY_ATTEMPTS = 200;

export interface Slapd {
  readonly url: string;
  readonly port: number;
  /** ldaps:// URL, when started with TLS. */
  readonly tlsUrl: string | null;
  readonly baseDn: string;
  readonly rootDn: string;
  readonly rootPassword: string;
  stop(): Promise<void>;
}

export async function slapdInstalled(): Promise<boolean> {
  try {
    await access(SLAPD_BINARY);
    await access(SLAPADD_BINARY);
    return true;
  } catch {
    return false;
  }
}

export interface SlapdTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** Refuse every operation not protected by TLS (LDAPS or StartTLS). */
  readonly required: boolean;
}

export async function startSlapd(options: { ldif: string; baseDn?: string; rootPassword?: string; tls?: SlapdTls }): Promise<Slapd> {
  const baseDn = options.baseDn ?? 'c=SE';
  const rootDn = `cn=admin,${baseDn}`;
  const rootPassword = options.rootPassword ?? 'test-only-password';
  const dir = await mkdtemp(join(tmpdir(), 'tillit-slapd-'));
  try {
    await mkdir(join(dir, 'db'));
    const conf = join(dir, 'slapd.conf');
    await writeFile(conf, slapdConf(dir, baseDn, rootDn, rootPassword, options.tls));
    await writeFile(join(dir, 'data.ldif'), options.ldif);
    // Loading offline is much faster than adding over the wire; -q skips checks the LDIF writer already guarantees.
    await promisify(execFile)(SLAPADD_BINARY, ['-q', '-f', conf, '-l', join(dir, 'data.ldif')], { maxBuffer: 16 * 1024 * 1024 });
    const port = await freePort();
    const url = `ldap://127.0.0.1:${port}`;
    const tlsPort = options.tls ? await freePort() : null;
    const tlsUrl = tlsPort === null ? null : `ldaps://127.0.0.1:${tlsPort}`;
    const listen = [`${url}/`, ...(tlsUrl ? [`${tlsUrl}/`] : [])].join(' ');
    // -d 0 keeps slapd in the foreground, so it is our child and dies with the stop below.
    const child = spawn(SLAPD_BINARY, ['-f', conf, '-h', listen, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    await waitUntilListening(child, port, () => stderr);
    if (tlsPort !== null) await waitUntilListening(child, tlsPort, () => stderr);
    return {
      url,
      port,
      tlsUrl,
      baseDn,
      rootDn,
      rootPassword,
      async stop() {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function slapdConf(dir: string, baseDn: string, rootDn: string, rootPassword: string, tls: SlapdTls | undefined): string {
  return [
    ...[...SYSTEM_SCHEMAS, SCHEMA_FILE].map((file) => `include ${file}`),
    `pidfile ${join(dir, 'slapd.pid')}`,
    ...(tls ? [`TLSCertificateFile ${tls.certFile}`, `TLSCertificateKeyFile ${tls.keyFile}`] : []),
    ...(tls?.required ? ['security tls=1'] : []),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'sizelimit unlimited',
    'database mdb',
    'maxsize 4294967296',
    `suffix "${baseDn}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${join(dir, 'db')}`,
    'index objectClass eq',
    'index hsaIdentity eq',
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitUntilListening(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
    if (child.exitCode !== null) throw new Error(`slapd exited with code ${child.exitCode}: ${stderr()}`);
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stopChild(child);
  throw new Error(`slapd did not listen on port ${port}: ${stderr()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
