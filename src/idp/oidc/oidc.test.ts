import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { call } from '../../../test/support/http.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { addClient, createOidcPart, openSealer } from './index.ts';
import { eidHolder, fetchTrusting, freePort, holdersVerifier, testAuthnPart, type EidHolder } from './test-support.ts';

const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');
const REDIRECT = 'https://rp.example/callback';

/** A person's browser: keeps cookies per host, follows nothing by itself. */
function browser(ca: string) {
  const jar = new Map<string, string>();
  const send = async (url: string, options: { method?: string; body?: string; accept?: string } = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { accept: options.accept ?? 'text/html', ...(cookie ? { cookie } : {}) };
    if (options.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const answer = await call(url, { method: options.method ?? 'GET', headers, ca, ...(options.body !== undefined ? { body: options.body } : {}) });
    for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
      const [pair] = line.split(';');
      const [name, ...value] = pair!.split('=');
      if (line.includes('Max-Age=0') || line.toLowerCase().includes('expires=thu, 01 jan 1970')) jar.delete(name!.trim());
      else jar.set(name!.trim(), value.join('='));
    }
    return answer;
  };
  /** GETs and follows redirects on the IdP until one leaves it (to the RP) or a page is shown. */
  const follow = async (url: string, base: string, first?: { method: string; body: string }) => {
    let answer = await send(url, first ?? {});
    let location = url;
    for (let hops = 0; answer.status >= 300 && answer.status < 400 && hops < 20; hops++) {
      location = new URL(answer.headers.location!, location).href;
      if (!location.startsWith(base)) return { location, answer };
      answer = await send(location);
    }
    return { location, answer };
  };
  return { send, follow, jar };
}

describe('OpenID Connect login with the eID app (PGlite, memory)', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let base: string;
  let holders: EidHolder[];
  let withCommissions: { personnummer: string; commissions: string[] };
  let singleCommission: string;

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    holders = [];
    const parts = new Map<string, PartFactory>([
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
      ['oidc', createOidcPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 30 } }, oidc: { encryptionKey: ENCRYPTION_KEY } }, parts);
    const rows = await context.db.query<{ personnummer: string; commissions: string[] }>(
      `select p.personnummer, array_agg(c.hsa_id order by c.hsa_id) as commissions
         from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
         join directory_commission c on c.service_identity_hsa_id = s.hsa_id and c.valid_to is null
        group by p.personnummer order by count(*) desc, p.personnummer`,
    );
    withCommissions = rows.find((r) => r.commissions.length >= 2)!;
    singleCommission = rows.at(-1)!.personnummer;
    assert.ok(withCommissions, 'the demo region has a person with two commissions');
  });
  after(async () => {
    await system?.stop();
  });

  async function registerClient(allowedClaims: string[], extra: { public?: boolean } = {}) {
    const sealer = await openSealer(system.config);
    return addClient(context.db, sealer, { displayName: 'Journalen', redirectUris: [REDIRECT], postLogoutRedirectUris: ['https://rp.example/bye'], allowedClaims, methods: ['oob-other'], ...extra });
  }

  async function relyingParty(clientId: string, secret: string | null) {
    const fetch = fetchTrusting(system.tls.cert);
    const config = await client.discovery(new URL(`${base}/oidc`), clientId, undefined, secret ? client.ClientSecretBasic(secret) : client.None(), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    return config;
  }

  function holderFor(personnummer: string) {
    const holder = eidHolder({ personalIdentityNumber: personnummer, givenName: 'Test', surname: 'Person' });
    holders.push(holder);
    return holder;
  }

  /** Starts a login at the RP, returns where the browser lands and the PKCE verifier. */
  async function authorize(config: client.Configuration, person: ReturnType<typeof browser>, params: Record<string, string>) {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st', ...params });
    const landed = await person.follow(url.href, base);
    return { verifier, landed };
  }

  /** The eID app's side of a QR login: claim with the code on screen now, sign, answer. */
  async function appLogsIn(holder: EidHolder, qrContent: string) {
    const server = { baseUrl: base, ca: system.tls.cert };
    const challenge = (await postJson(server, 'app/v1/claim', { qr: qrContent })) as Challenge;
    const answer = holder.answer(challenge);
    await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...answer });
  }

  /** The content the page's QR image encodes this second (the test reads the order instead of decoding the picture). */
  async function currentQr(uidUrl: string): Promise<string> {
    const orders = await context.ephemeral.get(`idp:pending:${new URL(uidUrl).pathname.split('/')[3]}`);
    const pending = JSON.parse(orders!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    return qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000));
  }

  async function loginByQr(person: ReturnType<typeof browser>, holder: EidHolder, landed: { location: string; answer: { status: number; body: string } }) {
    assert.equal(landed.answer.status, 200, landed.answer.body);
    assert.match(landed.location, /\/oidc\/interaction\/[^/]+\/wait$/);
    assert.match(landed.answer.body, /id="tillit-qr" src="data:image\/svg\+xml;base64,/, 'the QR page shows a QR code');
    await appLogsIn(holder, await currentQr(landed.location));
    const status = await person.send(landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' });
    const state = JSON.parse(status.body) as { status: string; next: string };
    assert.equal(state.status, 'complete', status.body);
    return person.follow(new URL(state.next, base).href, base);
  }

  it('logs in with the QR code, releases only the allowed claims, and verifies the ID token', async () => {
    const { client: registered, secret } = await registerClient(['name', 'given_name', 'family_name', 'personalIdentityNumber']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.cert);
    const holder = holderFor(singleCommission);
    const claims = JSON.stringify({ id_token: { personalIdentityNumber: { essential: true }, commissionHsaId: null, allCommissions: null } });
    const { verifier, landed } = await authorize(config, person, { claims, scope: 'openid profile' });
    const done = await loginByQr(person, holder, landed);
    assert.ok(done.location.startsWith(REDIRECT), `${done.location} ${done.answer.body.slice(0, 300)}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' });
    const idToken = tokens.claims()!;
    assert.equal(idToken['personalIdentityNumber'], singleCommission);
    assert.equal(idToken['acr'], 'http://id.sambi.se/loa/loa3');
    assert.deepEqual(idToken['amr'], ['oob-other']);
    assert.equal(idToken['commissionHsaId'], undefined, 'commission claims are not allowed for this client');
    assert.equal(idToken['allCommissions'], undefined);
    assert.notEqual(idToken.sub, singleCommission, 'sub is pairwise, not the personnummer');
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, idToken.sub);
    assert.equal(typeof userinfo['family_name'], 'string');
    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(introspected.active, true);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
  });
});
