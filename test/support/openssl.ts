import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A scratch folder for OpenSSL's files in a test, removed by `done()`. */
export function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'tillit-pki-'));
  return {
    dir,
    file(name: string, content: string | Uint8Array): string {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    read: (name: string) => readFileSync(join(dir, name)),
    path: (name: string) => join(dir, name),
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs OpenSSL; returns whether it succeeded and what it printed (stdout, then stderr). */
export function openssl(args: string[], input?: string | Uint8Array): { ok: boolean; output: string } {
  const result = spawnSync('openssl', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** A self-signed RSA certificate and its key, made by OpenSSL (an SP's or a federation's keys in the SAML tests). */
export function opensslCertificate(subject: string): { certificate: string; key: string } {
  const dir = scratch();
  try {
    const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-days', '30', '-keyout', dir.path('key.pem'), '-out', dir.path('cert.pem')]);
    if (!made.ok) throw new Error(`openssl req -x509 failed: ${made.output}`);
    return { certificate: dir.read('cert.pem').toString(), key: dir.read('key.pem').toString() };
  } finally {
    dir.done();
  }
}

/** The same, without blocking the event loop: needed when OpenSSL talks to a server in this process. */
export function opensslAsync(args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (errors += d));
    child.on('close', (code) => resolve({ ok: code === 0, output: output + errors }));
  });
}

/** A CSR made by OpenSSL, so the request side is not our own code. */
export function opensslCsr(dir: ReturnType<typeof scratch>, name: string, options: { subject: string; key?: string[]; san?: string }): string {
  const keyArgs = options.key ?? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const args = ['req', '-new', ...keyArgs, '-nodes', '-keyout', dir.path(`${name}.key`), '-out', dir.path(`${name}.csr`), '-subj', options.subject];
  if (options.san) args.push('-addext', `subjectAltName=${options.san}`);
  const result = openssl(args);
  if (!result.ok) throw new Error(result.output);
  return dir.read(`${name}.csr`).toString('utf8');
}
