import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { call } from '../../../test/support/http.ts';
import { freshSchema, type FreshSchema } from '../../../test/support/schema.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { addClient, createOidcPart, openSealer } from './index.ts';
import { eidHolder, fetchTrusting, freePort, holdersVerifier, testAuthnPart, type EidHolder } from './test-support.ts';

const DATABASE_URL = process.env['DATABASE_URL'];
const REDIS_URL = process.env['REDIS_URL'];
const REDIRECT = 'https://rp.example/callback';

describe('two IdP nodes sharing PostgreSQL and Redis behave as one', { skip: !DATABASE_URL || !REDIS_URL ? 'needs DATABASE_URL and REDIS_URL' : false }, () => {
  let schema: FreshSchema;
  const nodes: Awaited<ReturnType<typeof startTestSystem>>[] = [];
  const contexts: PartContext[] = [];
  const holders: EidHolder[] = [];
  let issuerBase: string;

  before(async () => {
    schema = await freshSchema(DATABASE_URL!, 'test');
    const shared = {
      database: { url: schema.url },
      redis: { url: REDIS_URL, keyPrefix: `tillit-test:${schema.name}:` },
      oidc: { encryptionKey: randomBytes(32).toString('base64') },
      directory: { demo: { persons: 10 } },
    };
    const ports = [await freePort(), await freePort()];
    // Both nodes stand behind one public address: node A's.
    issuerBase = `https://127.0.0.1:${ports[0]}`;
    for (const port of ports) {
      const parts = new Map<string, PartFactory>([
        ['directory', createDirectoryPart],
        ['authn', testAuthnPart(holdersVerifier(holders), (c) => contexts.push(c))],
        ['oidc', createOidcPart],
      ]);
      nodes.push(await startTestSystem({ ...shared, server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: issuerBase } }, parts));
    }
  });
  after(async () => {
    for (const node of nodes) await node.stop();
    await schema?.drop();
  });

  it('finishes on node B a login begun on node A, and node A redeems the code', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    assert.equal(a.tls.cert === b.tls.cert, false, 'each node has its own development certificate');
    const ctx = contexts[0]!;
    const [row] = await ctx.db.query<{ personnummer: string }>('select personnummer from directory_person order by personnummer limit 1');
    const holder = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const { client: registered, secret } = await addClient(ctx.db, await openSealer(a.config), { displayName: 'Journalen', redirectUris: [REDIRECT], allowedClaims: ['personalIdentityNumber'], methods: ['oob-other'] });
    const fetch = fetchTrusting(a.tls.ca);
    const config = await client.discovery(new URL(`${issuerBase}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    const verifier = client.randomPKCECodeVerifier();
    const authorizeUrl = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid personalIdentityNumber', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });

    // The browser's cookies are per host, so they follow it from node A to node B.
    const cookies = new Map<string, string>();
    const send = async (url: string, ca: string, accept = 'text/html') => {
      const answer = await call(url, { headers: { accept, cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, ca });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        cookies.set(name!, value.join('='));
      }
      return answer;
    };
    const toInteraction = await send(authorizeUrl.href, a.tls.ca);
    assert.equal(toInteraction.status, 303);
    const nodeB = (path: string) => `${b.httpsUrl}${new URL(path, issuerBase).pathname}`;
    const started = await send(nodeB(toInteraction.headers.location!), b.tls.ca);
    assert.equal(started.status, 303, started.body);
    const waiting = await send(nodeB(started.headers.location!), b.tls.ca);
    assert.equal(waiting.status, 200);
    const uid = started.headers.location!.split('/')[3]!;
    const pending = JSON.parse((await ctx.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: a.httpsUrl, ca: a.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const status = JSON.parse((await send(nodeB(`/oidc/interaction/${uid}/status`), b.tls.cert, 'application/json')).body) as { status: string; next: string };
    assert.equal(status.status, 'complete');
    let answer = await send(nodeB(status.next), b.tls.ca);
    for (let hops = 0; answer.status === 303 && !answer.headers.location!.startsWith(REDIRECT) && hops < 10; hops++) answer = await send(nodeB(answer.headers.location!), b.tls.ca);
    assert.ok(answer.headers.location?.startsWith(REDIRECT), `${answer.status} ${answer.headers.location}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(answer.headers.location!), { pkceCodeVerifier: verifier });
    assert.equal(tokens.claims()!['personalIdentityNumber'], row!.personnummer);
  });
});
