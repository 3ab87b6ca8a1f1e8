// SAML SSO responses per second for users with an SSO session (AuthnRequest
// in over HTTP-Redirect, signed — and separately signed + encrypted — Response
// out), p50/p99 latency; beside `openssl speed`'s signing rate for the IdP key.
// The SPs and the browser run in a child process (bench/support-saml-sp.ts):
// this process is the IdP, and its CPU time per response is the IdP's alone.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { Agent, request } from 'node:https';
import { loadavg } from 'node:os';
import { generateServiceProviderMetadata, SAML, type SamlConfig } from '@node-saml/node-saml';
import { postJson } from '../src/app/index.ts';
import { qrContent, type Challenge } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart } from '../src/idp/oidc/test-support.ts';
import { addServiceProvider, createSamlPart } from '../src/idp/saml/index.ts';
import { successResponse, type AssertionContent, type Idp } from '../src/idp/saml/response.ts';
import type { PartContext, PartFactory } from '../src/server/index.ts';
import { openssl, scratch } from '../test/support/openssl.ts';
import { startTestSystem } from '../test/support/system.ts';
import { systemStoreTargets } from '../test/support/system-stores.ts';
import type { SpCommand, SpReport, SpTarget } from './support-saml-sp.ts';
import { median, percentile, printTable } from './support.ts';

// A steady state, as a server that has run a while: with 400 after 150, the first setup measured still
// paid for V8's optimising compiles (4.5 CPU ms per response against 3.7 over 3,000), and 1.5 s runs were noisy.
const FLOWS = Number(process.env['BENCH_FLOWS'] ?? 2000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 500);
const KEY_BITS = Number(process.env['BENCH_KEY_BITS'] ?? 3072);

type Result = { perSecond: number; p50: number; p99: number; cpuMs: number; clientCpuMs: number };
// PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set, as in production (out of this process); else PGlite + memory.
const STORES = systemStoreTargets().at(-1)!;

/** The SPs' process (bench/support-saml-sp.ts): it sends the requests, so this process's CPU is the IdP's alone. */
function spProcess() {
  const child: ChildProcess = fork(new URL('./support-saml-sp.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (command: SpCommand) =>
    new Promise<SpReport>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the bench's SP process ended (${code})`));
      child.once('exit', onExit);
      child.once('message', (report: SpReport) => {
        child.off('exit', onExit);
        if (report.type === 'failed') reject(new Error(`the bench's SP process: ${report.message}`));
        else resolve(report);
      });
      child.send(command);
    });
  return {
    ask,
    /** Warm-up, then FLOWS requests CONCURRENCY at a time from that process; the CPU this process used meanwhile. */
    async measure(target: SpTarget): Promise<Result> {
      await ask({ type: 'warm', target });
      const cpu = process.cpuUsage();
      const report = await ask({ type: 'measure', target });
      const used = process.cpuUsage(cpu);
      if (report.type !== 'measured') throw new Error(`unexpected ${report.type} from the bench's SP process`);
      // CPU time of the IdP's process (every thread, so the thread pool's signatures too) per response: unlike responses/s, not lowered by other load.
      return { perSecond: FLOWS / report.seconds, p50: median(report.latencies), p99: percentile(report.latencies, 99), cpuMs: (used.user + used.system) / 1000 / FLOWS, clientCpuMs: report.clientCpuMs };
    },
    close: () => {
      if (child.connected) child.send({ type: 'exit' } satisfies SpCommand);
    },
  };
}

function certificate(subject: string): { certificate: string; key: string } {
  const dir = scratch();
  try {
    const made = openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-days', '30', '-keyout', dir.path('key.pem'), '-out', dir.path('cert.pem')]);
    if (!made.ok) throw new Error(made.output);
    return { certificate: dir.read('cert.pem').toString(), key: dir.read('key.pem').toString() };
  } finally {
    dir.done();
  }
}

async function tillit(): Promise<{ signed: Result; signedResponseOnly: Result; encrypted: Result; floor: Result }> {
  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  const holder = eidHolder({ personalIdentityNumber: '', givenName: 'B', surname: 'B' });
  let context!: PartContext;
  const parts = new Map<string, PartFactory>([
    ['directory', createDirectoryPart],
    ['authn', testAuthnPart(holdersVerifier([holder]), (c) => (context = c))],
    ['saml', createSamlPart],
  ]);
  const stores = await STORES.stores();
  const system = await startTestSystem(
    { ...stores.overrides, server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') }, saml: { keyBits: KEY_BITS } },
    parts,
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2, ca: system.tls.ca });
  const send = (url: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const req = request(url, { headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  try {
    const [row] = await context.db.query<{ personnummer: string }>('select personnummer from directory_person limit 1');
    Object.assign(holder.person, { personalIdentityNumber: row!.personnummer });
    const encryption = certificate('/CN=bench sp encryption');
    const register = (entityId: string, options: { encrypt: boolean; signAssertions: boolean }) =>
      addServiceProvider(
        context.db,
        {
          metadataXml: generateServiceProviderMetadata({ issuer: entityId, callbackUrl: `https://${new URL(entityId).host}/acs`, ...(options.encrypt ? { decryptionCert: encryption.certificate, decryptionPvk: encryption.key } : { decryptionCert: null }) }),
          metadataSource: 'bench',
          displayName: entityId,
          methods: ['oob-other'],
          attributes: ['name', 'personalIdentityNumber'],
          signAssertions: options.signAssertions,
        },
        new Date(),
      );
    await register('https://signed.example/sp', { encrypt: false, signAssertions: true });
    await register('https://response-only.example/sp', { encrypt: false, signAssertions: false });
    await register('https://encrypted.example/sp', { encrypt: true, signAssertions: true });
    // Unsigned requests, as the SP process sends them (these SPs need not sign).
    const sp = (entityId: string) => new SAML({ entryPoint: `${base}/saml/sso`, issuer: entityId, callbackUrl: `https://${new URL(entityId).host}/acs`, idpCert: 'unused', identifierFormat: null, authnContext: ['http://id.sambi.se/loa/loa3'] } as SamlConfig);

    // One real login by QR gives the browser its SSO session.
    const jar = new Map<string, string>();
    const get = async (url: string, accept = 'text/html') => {
      const answer = await send(url, { accept, cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        jar.set(name!, value.join('='));
      }
      return answer;
    };
    let answer = await get(await sp('https://signed.example/sp').getAuthorizeUrlAsync('', 'bench', {}));
    while (answer.status === 303 && !String(answer.headers['location']).includes('/wait')) answer = await get(new URL(String(answer.headers['location']), base).href);
    const key = String(answer.headers['location']).split('/')[3]!;
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${key}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    await get(`${base}/saml/login/${key}/status`, 'application/json');
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

    const sps = spProcess();
    try {
      await sps.ask({ type: 'setup', setup: { base, ca: system.tls.ca, cookie, flows: FLOWS, concurrency: CONCURRENCY, warmup: WARMUP } });
      return {
        signed: await sps.measure({ entityId: 'https://signed.example/sp' }),
        signedResponseOnly: await sps.measure({ entityId: 'https://response-only.example/sp' }),
        encrypted: await sps.measure({ entityId: 'https://encrypted.example/sp' }),
        // The same server, TLS and client, no SAML work: what any page costs here.
        floor: await sps.measure({ path: '/saml/metadata' }),
      };
    } finally {
      sps.close();
    }
  } finally {
    agent.destroy();
    await system.stop();
    await stores.cleanup();
  }
}

/** RSA signatures per second for the IdP key size from `openssl speed`, on this machine, now. */
function opensslSignsPerSecond(bits: number): number {
  const out = execFileSync('openssl', ['speed', '-seconds', '2', `rsa${bits}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const line = out.split('\n').find((l) => new RegExp(`^rsa\\s+${bits} bits`).test(l.trim()));
  const fields = line?.trim().split(/\s+/) ?? [];
  return Number(fields[fields.length - 2]);
}

/**
 * Where a response's CPU goes, in this process without HTTP: one RSA
 * signature with a key of the IdP's size (Node's crypto, as the IdP signs), and
 * the whole Response built, signed (and encrypted), one after the other.
 */
async function responseAlone(): Promise<{ rsa: number; signed: number; responseOnly: number; encrypted: number }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: KEY_BITS });
  const certificateBase64 = certificate('/CN=bench idp').certificate.replace(/-----[A-Z ]+-----|\s/g, '');
  const encryptTo = certificate('/CN=bench sp encryption').certificate.replace(/-----[A-Z ]+-----|\s/g, '');
  const key = { use: 'signing' as const, privateKey, privateKeyPem: '', certificatePem: '', certificateBase64 };
  const idp: Idp = { entityId: 'https://idp.example/saml', keys: { signing: key, encryption: key }, signatureAlgorithm: 'rsa-sha256' };
  const content: AssertionContent = { nameId: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient', value: '_bench' }, authnInstant: new Date(), sessionIndex: '_session', loaUri: 'http://id.sambi.se/loa/loa3', authnMethod: 'oob-other', attributes: { name: 'Åsa Öberg', personalIdentityNumber: '191212121212' } };
  const to = (signAssertion: boolean, encryptionCertificates: string[] = []) => ({ spEntityId: 'https://sp.example/sp', acsUrl: 'https://sp.example/acs', inResponseTo: '_request', signAssertion, encryptionCertificates, attributeProfile: 'sambi' as const });
  const cpuMs = async (work: () => Promise<unknown>, n = 200) => {
    for (let i = 0; i < WARMUP; i++) await work();
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) await work();
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / 1000 / n;
  };
  const data = Buffer.alloc(700, 'x');
  return {
    rsa: await cpuMs(() => new Promise((resolve, reject) => sign('sha256', data, privateKey, (error, signature) => (error ? reject(error) : resolve(signature))))),
    signed: await cpuMs(() => successResponse(idp, to(true), content, new Date(), 300_000)),
    responseOnly: await cpuMs(() => successResponse(idp, to(false), content, new Date(), 300_000)),
    encrypted: await cpuMs(() => successResponse(idp, to(true, [encryptTo]), content, new Date(), 300_000)),
  };
}

const ours = await tillit();
const alone = await responseAlone();
const signs = opensslSignsPerSecond(KEY_BITS);
const row = (setup: string, r: Result) => ({ setup, 'responses/s': r.perSecond, 'p50 ms': r.p50, 'p99 ms': r.p99, 'CPU ms/response': r.cpuMs, 'of openssl sign/s': `${((100 * r.perSecond) / signs).toFixed(0)}%` });
const clientCpuMs = Math.max(ours.signed.clientCpuMs, ours.signedResponseOnly.clientCpuMs, ours.encrypted.clientCpuMs);
const floorRow = { setup: 'GET /saml/metadata over the same HTTPS (signed once an hour: no SAML work)', 'responses/s': ours.floor.perSecond, 'p50 ms': ours.floor.p50, 'p99 ms': ours.floor.p99, 'CPU ms/response': ours.floor.cpuMs, 'of openssl sign/s': '' };
printTable(`SAML SSO responses with an SSO session (${FLOWS} requests after ${WARMUP} to warm up, ${CONCURRENCY} at a time, RSA-${KEY_BITS} IdP key, ${STORES.name}; the SPs and browser in a child process, up to ${clientCpuMs.toFixed(1)} CPU ms/response there, not counted; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`, [
  row('signed Response + signed Assertion (2 signatures)', ours.signed),
  row('signed Response only (1 signature)', ours.signedResponseOnly),
  row('signed + encrypted Assertion (AES-256-GCM, RSA-OAEP)', ours.encrypted),
  floorRow,
  { setup: `openssl speed rsa${KEY_BITS} sign/s (one core)`, 'responses/s': signs, 'p50 ms': '', 'p99 ms': '', 'CPU ms/response': 1000 / signs, 'of openssl sign/s': '100%' },
]);
const share = (ms: number, httpMs: number) => `${((100 * ms) / httpMs).toFixed(0)}%`;
printTable(`Where a response's CPU goes: in this process, without HTTP (${KEY_BITS}-bit RSA; one at a time)`, [
  { step: `RSA-${KEY_BITS} PKCS#1 signature (node:crypto)`, 'CPU ms': alone.rsa, 'of the HTTP round (2 signatures)': share(alone.rsa, ours.signed.cpuMs) },
  { step: 'Response + Assertion built and signed (2 signatures)', 'CPU ms': alone.signed, 'of the HTTP round (2 signatures)': share(alone.signed, ours.signed.cpuMs) },
  { step: 'Response built and signed (1 signature)', 'CPU ms': alone.responseOnly, 'of the HTTP round (2 signatures)': share(alone.responseOnly, ours.signed.cpuMs) },
  { step: 'signed + encrypted Assertion', 'CPU ms': alone.encrypted, 'of the HTTP round (2 signatures)': share(alone.encrypted, ours.signed.cpuMs) },
]);
