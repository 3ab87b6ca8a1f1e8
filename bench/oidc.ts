// Complete OpenID Connect code flows per second for users with an SSO session
// (authorize → code → token → ID token verified), p50/p99 latency; beside
// `openssl speed` for the ID-token key and a bare oidc-provider on the same flow.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import Provider from 'oidc-provider';
import { postJson } from '../src/app/index.ts';
import { qrContent, type Challenge } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { addClient, createOidcPart, openSealer } from '../src/idp/oidc/index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart } from '../src/idp/oidc/test-support.ts';
import { loadOrCreateServerCertificate, selfSignedCertificate, type PartContext, type PartFactory } from '../src/server/index.ts';
import { startTestSystem } from '../test/support/system.ts';
import { median, percentile, printTable } from './support.ts';

const FLOWS = Number(process.env['BENCH_FLOWS'] ?? 400);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const REDIRECT = 'https://rp.example/callback';

/** A browser-and-RP pair over keep-alive connections trusting one certificate. */
function httpClient(ca: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2, ca });
  const send = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array }) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
  const fetch = async (url: string, init: { method?: string; headers?: HeadersInit; body?: unknown }) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = init.body === undefined || init.body === null ? undefined : init.body instanceof Uint8Array ? init.body : String(init.body);
    const answer = await send(url, { method: init.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}) });
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
    return new Response(answer.status === 204 ? null : new Uint8Array(answer.body), { status: answer.status, headers: responseHeaders });
  };
  return { send, fetch, close: () => agent.destroy() };
}

/** Runs `flow` FLOWS times, CONCURRENCY at a time; flows/s and latencies. */
type Result = { perSecond: number; p50: number; p99: number };

async function measure(flow: () => Promise<void>): Promise<Result> {
  for (let i = 0; i < 20; i++) await flow(); // warm-up
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < FLOWS) {
        const t = performance.now();
        await flow();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: FLOWS / seconds, p50: median(latencies), p99: percentile(latencies, 99) };
}

/** One code flow for a browser that already has a session: authorize → code → token → ID token verified by openid-client. */
function codeFlow(config: client.Configuration, send: ReturnType<typeof httpClient>['send'], cookie: string, scope = 'openid') {
  return async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const answer = await send(url.href, { headers: { cookie } });
    const location = String(answer.headers['location'] ?? '');
    if (!location.startsWith(REDIRECT)) throw new Error(`expected a redirect to the client, got ${answer.status} ${location}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(location), { pkceCodeVerifier: verifier });
    if (!tokens.claims()?.sub) throw new Error('no verified ID token');
  };
}

const cookiesOf = (headers: Record<string, string | string[] | undefined>, jar: Map<string, string>) => {
  for (const line of [headers['set-cookie'] ?? []].flat()) {
    const [name, ...value] = line.split(';')[0]!.split('=');
    jar.set(name!, value.join('='));
  }
};
const cookieHeader = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

async function tillit(): Promise<{ bare: Result; withClaims: Result }> {
  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  const holder = eidHolder({ personalIdentityNumber: '', givenName: 'B', surname: 'B' });
  const holders = [holder];
  let context!: PartContext;
  const parts = new Map<string, PartFactory>([
    ['directory', createDirectoryPart],
    ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
    ['oidc', createOidcPart],
  ]);
  const system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') } }, parts);
  const http = httpClient(system.tls.ca);
  try {
    const [row] = await context.db.query<{ personnummer: string }>('select personnummer from directory_person limit 1');
    Object.assign(holder.person, { personalIdentityNumber: row!.personnummer });
    const { client: registered, secret } = await addClient(context.db, await openSealer(system.config), { displayName: 'Bench', redirectUris: [REDIRECT], allowedClaims: ['name', 'personalIdentityNumber'], methods: ['oob-other'] });
    const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: http.fetch });
    config[client.customFetch] = http.fetch;
    // One real login by QR gives the browser its SSO session.
    const jar = new Map<string, string>();
    const get = async (url: string, accept = 'text/html') => {
      const answer = await http.send(url, { headers: { accept, cookie: cookieHeader(jar) } });
      cookiesOf(answer.headers, jar);
      return answer;
    };
    const verifier = client.randomPKCECodeVerifier();
    let answer = await get(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    while (answer.status === 303 && !String(answer.headers['location']).includes('/wait')) answer = await get(new URL(String(answer.headers['location']), base).href);
    const uid = String(answer.headers['location']).split('/')[3]!;
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const status = JSON.parse((await get(`${base}/oidc/interaction/${uid}/status`, 'application/json')).body.toString()) as { next: string };
    answer = await get(new URL(status.next, base).href);
    while (answer.status === 303 && !String(answer.headers['location']).startsWith(REDIRECT)) answer = await get(new URL(String(answer.headers['location']), base).href);
    const plain = await measure(codeFlow(config, http.send, cookieHeader(jar)));
    // The first request for more scopes passes the login pages once (no page shown: SSO, nothing to choose) to widen the grant.
    const wider = 'openid profile personalIdentityNumber';
    answer = await get(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: wider, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    while (answer.status === 303 && !String(answer.headers['location']).startsWith(REDIRECT)) answer = await get(new URL(String(answer.headers['location']), base).href);
    return {
      bare: plain,
      withClaims: await measure(codeFlow(config, http.send, cookieHeader(jar), wider)),
    };
  } finally {
    http.close();
    await system.stop();
  }
}

/** The same flow on oidc-provider alone: in-memory adapter, one static client, a login finished in code. */
async function bare(cert: { cert: string; key: string }): Promise<Result> {
  const server = createServer({ cert: cert.cert, key: cert.key });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const jwk = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  const provider = new Provider(base, {
    clients: [{ client_id: 'bench', client_secret: 'bench-secret-bench-secret-bench-secret', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['bench-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url!.startsWith('/interaction/')) return callback(req, res);
    const grant = new provider.Grant({ accountId: 'bench-user', clientId: 'bench' });
    grant.addOIDCScope('openid');
    await provider.interactionFinished(req, res, { login: { accountId: 'bench-user' }, consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: false });
  });
  const http = httpClient(cert.cert);
  try {
    const config = await client.discovery(new URL(base), 'bench', undefined, client.ClientSecretBasic('bench-secret-bench-secret-bench-secret'), { [client.customFetch]: http.fetch });
    config[client.customFetch] = http.fetch;
    const jar = new Map<string, string>();
    const verifier = client.randomPKCECodeVerifier();
    let answer = await http.send(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, {});
    cookiesOf(answer.headers, jar);
    while (answer.status >= 300 && answer.status < 400 && !String(answer.headers['location']).startsWith(REDIRECT)) {
      answer = await http.send(new URL(String(answer.headers['location']), base).href, { headers: { cookie: cookieHeader(jar) } });
      cookiesOf(answer.headers, jar);
    }
    return await measure(codeFlow(config, http.send, cookieHeader(jar)));
  } finally {
    http.close();
    server.close();
  }
}

/** RSA-2048 signatures per second (RS256's key) from `openssl speed`, on this machine, now. */
function opensslSignsPerSecond(): number {
  const out = execFileSync('openssl', ['speed', '-seconds', '2', 'rsa2048'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const line = out.split('\n').find((l) => /^rsa\s+2048 bits/.test(l.trim()));
  const fields = line?.trim().split(/\s+/) ?? [];
  return Number(fields[fields.length - 2]);
}

const ours = await tillit();
const certificate = await loadOrCreateServerCertificate('memory://', ['127.0.0.1'], selfSignedCertificate);
const theirs = await bare(certificate);
const signs = opensslSignsPerSecond();
printTable(`OpenID Connect code flows with an SSO session (${FLOWS} flows, ${CONCURRENCY} at a time)`, [
  { setup: 'Tillit, scope openid (PGlite + memory store)', 'flows/s': ours.bare.perSecond, 'p50 ms': ours.bare.p50, 'p99 ms': ours.bare.p99 },
  { setup: 'Tillit, + profile personalIdentityNumber (directory read)', 'flows/s': ours.withClaims.perSecond, 'p50 ms': ours.withClaims.p50, 'p99 ms': ours.withClaims.p99 },
  { setup: 'bare oidc-provider, scope openid (memory)', 'flows/s': theirs.perSecond, 'p50 ms': theirs.p50, 'p99 ms': theirs.p99 },
  { setup: 'overhead, scope openid (bare / Tillit)', 'flows/s': theirs.perSecond / ours.bare.perSecond, 'p50 ms': '', 'p99 ms': '' },
  { setup: 'openssl speed rsa2048 sign/s', 'flows/s': signs, 'p50 ms': '', 'p99 ms': '' },
]);
