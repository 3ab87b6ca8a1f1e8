import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { call } from '../../../test/support/http.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { createOrderService, qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { addClient, createOidcPart, openSealer } from './index.ts';
import { eidHolder, fetchTrusting, freePort, holdersVerifier, personsWithCommissions, testAuthnPart, type EidHolder } from './test-support.ts';

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
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 30 } }, oidc: { encryptionKey: ENCRYPTION_KEY, allowPrivateNetworkCalls: true } }, parts);
    const rows = await personsWithCommissions(context.db);
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
    const fetch = fetchTrusting(system.tls.ca);
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
    const server = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(server, 'app/v1/claim', { qr: qrContent })) as Challenge;
    const answer = holder.answer(challenge);
    return (await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...answer })) as { status: string; hintCode?: string };
  }

  /** The content the page's QR image encodes this second (the test reads the order instead of decoding the picture). */
  async function currentQr(uidUrl: string): Promise<string> {
    const orders = await context.ephemeral.get(`idp:pending:${new URL(uidUrl).pathname.split('/')[3]}`);
    const pending = JSON.parse(orders!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    return qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000));
  }

  async function loginByQr(person: ReturnType<typeof browser>, holder: EidHolder, landed: { location: string; answer: { status: number; body: string } }) {
    assert.equal(landed.answer.status, 200, `${landed.location}: ${landed.answer.body.slice(0, 200)}`);
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
    const person = browser(system.tls.ca);
    const holder = holderFor(singleCommission);
    const claims = JSON.stringify({ id_token: { personalIdentityNumber: { essential: true }, commissionHsaId: null, allCommissions: null } });
    const { verifier, landed } = await authorize(config, person, { claims, scope: 'openid profile offline_access', prompt: 'consent' });
    const done = await loginByQr(person, holder, landed);
    assert.ok(done.location.startsWith(REDIRECT), `${done.location} ${done.answer.body.slice(0, 300)}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' });
    assert.equal(tokens.refresh_token, undefined, 'no refresh token unless the client is registered for them');
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

  it('reuses the SSO session at a second client, asks for the commission each login, and honours pre-selection', async () => {
    const plain = await registerClient(['name', 'personalIdentityNumber']);
    const care = await registerClient(['name', 'personalIdentityNumber', 'commissionHsaId', 'healthCareUnitHsaId']);
    const person = browser(system.tls.ca);
    const holder = holderFor(withCommissions.personnummer);
    const first = await relyingParty(plain.client.clientId, plain.secret);
    const firstLogin = await authorize(first, person, { scope: 'openid profile personalIdentityNumber' });
    const done = await loginByQr(person, holder, firstLogin.landed);
    const firstTokens = await client.authorizationCodeGrant(first, new URL(done.location), { pkceCodeVerifier: firstLogin.verifier, expectedState: 'st' });
    const authTime = firstTokens.claims()!.auth_time;

    // The second client wants a commission: no new authentication, but the choice page.
    const second = await relyingParty(care.client.clientId, care.secret);
    const claims = JSON.stringify({ id_token: { commissionHsaId: { essential: true } } });
    const secondLogin = await authorize(second, person, { scope: 'openid', claims });
    assert.equal(secondLogin.landed.answer.status, 200);
    assert.match(secondLogin.landed.answer.body, /name="choice"/, 'the commission choice page is shown');
    for (const hsaId of withCommissions.commissions) assert.ok(secondLogin.landed.answer.body.includes(hsaId), `${hsaId} is offered`);
    const picked = withCommissions.commissions[1]!;
    const chosen = await person.follow(`${secondLogin.landed.location.replace(/\?.*$/, '')}/choose`, base, { method: 'POST', body: `choice=${encodeURIComponent(picked)}` });
    assert.ok(chosen.location.startsWith(REDIRECT), chosen.location);
    const secondTokens = await client.authorizationCodeGrant(second, new URL(chosen.location), { pkceCodeVerifier: secondLogin.verifier, expectedState: 'st' });
    assert.equal(secondTokens.claims()!['commissionHsaId'], picked);
    assert.equal(secondTokens.claims()!.auth_time, authTime, 'the SSO session was reused, not a new authentication');
    assert.notEqual(secondTokens.claims()!.sub, firstTokens.claims()!.sub, 'each client sees its own sub');

    // Pre-selected commission: no page.
    const preselected = withCommissions.commissions[0]!;
    const third = await authorize(second, person, { scope: 'openid', claims: JSON.stringify({ id_token: { commissionHsaId: { essential: true, value: preselected } } }) });
    assert.ok(third.landed.location.startsWith(REDIRECT), third.landed.location);
    const thirdTokens = await client.authorizationCodeGrant(second, new URL(third.landed.location), { pkceCodeVerifier: third.verifier, expectedState: 'st' });
    assert.equal(thirdTokens.claims()!['commissionHsaId'], preselected);

    // A pre-selection the person cannot satisfy ends with an error to the client, never another identity.
    const mismatch = await authorize(second, person, { scope: 'openid', claims: JSON.stringify({ id_token: { commissionHsaId: { value: 'SE0000000000-NOPE' } } }) });
    const error = new URL(mismatch.landed.location);
    assert.ok(mismatch.landed.location.startsWith(REDIRECT), mismatch.landed.location);
    assert.equal(error.searchParams.get('error'), 'access_denied');
    assert.equal(error.searchParams.get('code'), null);
  });

  it('answers bad input with the protocol error', async () => {
    const { client: registered, secret } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.ca);
    const authorizeUrl = (params: Record<string, string>) =>
      `${base}/oidc/auth?${new URLSearchParams({ client_id: registered.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', ...params })}`;

    // No redirect to an unregistered URI or for an unknown client: an error page at the IdP.
    for (const params of [{ redirect_uri: 'https://evil.example/cb' }, { client_id: 'nobody' }] as Record<string, string>[]) {
      const answer = await person.send(authorizeUrl(params));
      assert.equal(answer.status, 400, JSON.stringify(params));
      assert.ok(!answer.headers.location);
      assert.match(answer.body, /invalid_redirect_uri|invalid_client/);
    }
    // A claims parameter that is not JSON goes back to the client as invalid_request.
    const notJson = await person.send(authorizeUrl({ claims: '{not json' }));
    assert.equal(notJson.status, 303);
    assert.equal(new URL(notJson.headers.location!).searchParams.get('error'), 'invalid_request');
    // PKCE is required.
    const noPkce = await person.send(authorizeUrl({ code_challenge: '', code_challenge_method: '' }));
    assert.equal(new URL(noPkce.headers.location!).searchParams.get('error'), 'invalid_request');

    const holder = holderFor(singleCommission);
    const { verifier, landed } = await authorize(config, person, {});
    const done = await loginByQr(person, holder, landed);
    const callback = new URL(done.location);
    await assert.rejects(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: `${verifier}x`, expectedState: 'st' }), (e: Error & { error?: string }) => e.error === 'invalid_grant');

    const again = await authorize(config, person, {});
    const tokens = await client.authorizationCodeGrant(config, new URL(again.landed.location), { pkceCodeVerifier: again.verifier, expectedState: 'st' });
    assert.ok(tokens.id_token);
    await assert.rejects(client.authorizationCodeGrant(config, new URL(again.landed.location), { pkceCodeVerifier: again.verifier, expectedState: 'st' }), (e: Error & { error?: string }) => e.error === 'invalid_grant');
    // The replay also revoked what the code gave.
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
  });

  it('refreshes tokens, then logs out everywhere and tells the client on the back channel', async () => {
    const notices: string[] = [];
    const receiver = createHttpServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        notices.push(new URLSearchParams(body).get('logout_token') ?? '');
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const sealer = await openSealer(system.config);
      const { client: registered, secret } = await addClient(context.db, sealer, {
        displayName: 'Journalen',
        redirectUris: [REDIRECT],
        postLogoutRedirectUris: ['https://rp.example/bye'],
        backchannelLogoutUri: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/logout`,
        refreshTokens: true,
        allowedClaims: ['name'],
        methods: ['oob-other'],
      });
      const config = await relyingParty(registered.clientId, secret!);
      const person = browser(system.tls.ca);
      const { verifier, landed } = await authorize(config, person, { scope: 'openid offline_access', prompt: 'consent' });
      const done = await loginByQr(person, holderFor(singleCommission), landed);
      const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' });
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.equal(refreshed.claims()!.sub, tokens.claims()!.sub);

      const endUrl = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://rp.example/bye' });
      const confirm = await person.send(endUrl.href);
      assert.equal(confirm.status, 200);
      assert.match(String(confirm.headers['content-security-policy']), /form-action 'self' https:\/\/rp\.example(;|$)/, 'the logout form may end at the client');
      const action = /<form[^>]*action="([^"]+)"/.exec(confirm.body)?.[1];
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
      assert.ok(action && xsrf, confirm.body);
      const out = await person.follow(new URL(action.replaceAll('&amp;', '&'), base).href, base, { method: 'POST', body: `xsrf=${xsrf}&logout=yes` });
      assert.ok(out.location.startsWith('https://rp.example/bye'), out.location);
      assert.equal(notices.length, 1, 'one back-channel notice');
      const logoutToken = JSON.parse(Buffer.from(notices[0]!.split('.')[1]!, 'base64url').toString()) as { sub: string; events: Record<string, unknown> };
      assert.equal(logoutToken.sub, tokens.claims()!.sub);
      assert.ok(logoutToken.events['http://schemas.openid.net/event/backchannel-logout']);

      // The SSO session is gone: the next login shows the login pages again.
      const next = await authorize(config, person, {});
      assert.match(next.landed.location, /\/wait$/);
    } finally {
      receiver.close();
    }
  });

  it('answers prompt=none from the SSO session, forces a new authentication for max_age=0, and refuses a refused eID', async () => {
    const { client: registered, secret } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.ca);
    const silentFirst = await authorize(config, person, { prompt: 'none' });
    assert.equal(new URL(silentFirst.landed.location).searchParams.get('error'), 'login_required', 'no session yet');

    const first = await authorize(config, person, {});
    await loginByQr(person, holderFor(singleCommission), first.landed);
    const silent = await authorize(config, person, { prompt: 'none' });
    assert.ok(new URL(silent.landed.location).searchParams.get('code'), silent.landed.location);

    const fresh = await authorize(config, person, { max_age: '0' });
    assert.match(fresh.landed.location, /\/wait$/, 'max_age=0 shows the login pages again');

    // An eID the verifier refuses (revoked, wrong level...) fails the order; the page says so and no session is made.
    const stranger = eidHolder({ personalIdentityNumber: singleCommission, givenName: 'X', surname: 'Y' });
    const other = browser(system.tls.ca);
    const refusedAt = await authorize(config, other, {});
    assert.equal((await appLogsIn(stranger, await currentQr(refusedAt.landed.location))).hintCode, 'certificateErr');
    const state = JSON.parse((await other.send(refusedAt.landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' })).body) as { status: string; hint: string; next?: string; retry?: string };
    assert.equal(state.status, 'failed');
    assert.match(state.hint, /godtogs inte/);
    assert.equal(state.next, undefined, 'the page stays to say why');
    assert.match(state.retry ?? '', /^\/oidc\/interaction\/[^/]+$/);
    assert.equal(other.jar.has('tillit_sso'), false);
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const { client: registered } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, 'not-the-secret');
    const person = browser(system.tls.ca);
    const { verifier, landed } = await authorize(config, person, {});
    const done = await loginByQr(person, holderFor(singleCommission), landed);
    await assert.rejects(client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' }), (e: Error & { status?: number; cause?: { parameters?: { error?: string } }[] }) => e.status === 401 && e.cause?.[0]?.parameters?.error === 'invalid_client');
  });

  it('authenticates a client by private_key_jwt against its JWKS URI', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const jwks = JSON.stringify({ keys: [{ ...(await crypto.subtle.exportKey('jwk', keys.publicKey)), kid: 'rp-1', alg: 'ES256', use: 'sig' }] });
    const jwksServer = createHttpServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const sealer = await openSealer(system.config);
      const { client: registered, secret } = await addClient(context.db, sealer, {
        displayName: 'Journalen',
        redirectUris: [REDIRECT],
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwksUri: `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`,
        allowedClaims: ['name'],
        methods: ['oob-other'],
      });
      assert.equal(secret, null);
      const fetch = fetchTrusting(system.tls.ca);
      const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.PrivateKeyJwt({ key: keys.privateKey, kid: 'rp-1' }), { [client.customFetch]: fetch });
      config[client.customFetch] = fetch;
      const person = browser(system.tls.ca);
      const { verifier, landed } = await authorize(config, person, {});
      const done = await loginByQr(person, holderFor(singleCommission), landed);
      const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' });
      assert.ok(tokens.claims()!.sub);
      // A key the client never published is refused.
      const other = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      const forged = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.PrivateKeyJwt({ key: other.privateKey, kid: 'rp-1' }), { [client.customFetch]: fetch });
      forged[client.customFetch] = fetch;
      const second = await authorize(forged, person, {});
      await assert.rejects(client.authorizationCodeGrant(forged, new URL(second.landed.location), { pkceCodeVerifier: second.verifier, expectedState: 'st' }), (e: Error & { status?: number; error?: string }) => e.status === 401 || e.error === 'invalid_client');
    } finally {
      jwksServer.close();
    }
  });

  it('runs the built-in demo e-service: log in, see the claims, choose another commission, log out', async () => {
    const person = browser(system.tls.ca);
    const start = await person.send(`${base}/demo`);
    assert.equal(start.status, 200);
    assert.match(start.body, /href="\/demo\/login"/);
    const methods = await person.follow(`${base}/demo/login`, base);
    assert.match(methods.answer.body, /value="oob-other"/, 'the demo client offers both eID methods');
    const login = await person.follow(`${methods.location}/start`, base, { method: 'POST', body: 'method=oob-other' });
    const chosen = await loginByQr(person, holderFor(withCommissions.personnummer), login);
    assert.match(chosen.answer.body, /name="choice"/);
    const picked = withCommissions.commissions[1]!;
    const back = await person.follow(`${chosen.location.replace(/\?.*$/, '')}/choose`, base, { method: 'POST', body: `choice=${encodeURIComponent(picked)}` });
    assert.equal(back.answer.status, 200, back.answer.body.slice(0, 500));
    assert.ok(back.location.endsWith('/demo'), back.location);
    assert.ok(back.answer.body.includes(picked), 'the demo shows the chosen commission');
    assert.ok(back.answer.body.includes(withCommissions.personnummer));
    const out = await person.send(`${base}/demo/logout`);
    assert.equal(out.status, 303);
    assert.match(out.headers.location!, /\/oidc\/session\/end\?/);
  });

  it('asks for a new authentication for prompt=login and when acr_values wants LoA 3 from a LoA 2 session', async () => {
    const { client: registered, secret } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.ca);
    const reserveCard = eidHolder({ personalIdentityNumber: singleCommission, givenName: 'R', surname: 'C' }, 2);
    holders.push(reserveCard);
    const first = await authorize(config, person, {});
    const done = await loginByQr(person, reserveCard, first.landed);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: first.verifier, expectedState: 'st' });
    assert.equal(tokens.claims()!['acr'], 'http://id.sambi.se/loa/loa2');

    const again = await authorize(config, person, { prompt: 'login' });
    assert.match(again.landed.location, /\/wait$/, 'prompt=login shows the login pages');
    const higher = await authorize(config, person, { acr_values: 'http://id.sambi.se/loa/loa3' });
    assert.match(higher.landed.location, /\/wait$/, 'a LoA 2 session does not satisfy LoA 3');
    // The order itself demands LoA 3, so the reserve card is refused by the verifier.
    assert.equal((await appLogsIn(reserveCard, await currentQr(higher.landed.location))).hintCode, 'certificateErr');
  });

  it('logs in with the eID app on the same device through the auto-start link', async () => {
    const { client: registered, secret } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.ca);
    const { verifier, landed } = await authorize(config, person, {});
    const link = /href="(tillit-eid:\/\/\/\?[^"]+)"/.exec(landed.answer.body)?.[1]?.replaceAll('&amp;', '&');
    assert.ok(link, 'the page links to the app on this device');
    const params = new URL(link).searchParams;
    assert.equal(params.get('redirect'), new URL(landed.location).pathname);
    const holder = holderFor(singleCommission);
    const server = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(server, 'app/v1/claim', { autoStartToken: params.get('autostarttoken') })) as Challenge;
    assert.equal(challenge.requesterName, 'Journalen');
    await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const state = JSON.parse((await person.send(landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' })).body) as { status: string; next: string };
    assert.equal(state.status, 'complete');
    const done = await person.follow(new URL(state.next, base).href, base);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.location), { pkceCodeVerifier: verifier, expectedState: 'st' });
    assert.equal(tokens.claims()!['amr']?.toString(), 'oob-other', 'the method is the one the client started (its only method)');
  });

  it('sends a cancelled login back to the client as access_denied, and refuses unknown login pages', async () => {
    const { client: registered, secret } = await registerClient(['name']);
    const config = await relyingParty(registered.clientId, secret);
    const person = browser(system.tls.ca);
    const { landed } = await authorize(config, person, {});
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${new URL(landed.location).pathname.split('/')[3]}`))!) as { orderRef: string };
    const cancelled = await person.follow(landed.location.replace(/\/wait$/, '/cancel'), base, { method: 'POST', body: '' });
    const back = new URL(cancelled.location);
    assert.ok(cancelled.location.startsWith(REDIRECT), cancelled.location);
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'st');
    const orders = createOrderService({ store: context.ephemeral, verifyAnswer: holdersVerifier([]) });
    assert.equal((await orders.collect(pending.orderRef, `oidc:${registered.clientId}`)).status, 'failed', 'the order was cancelled too');

    const unknown = await person.send(`${base}/oidc/interaction/not-a-real-interaction`);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /Tiden gick ut/);
  });

  it('publishes discovery at the issuer (and from the root) with what Tillit supports', async () => {
    const root = await call(`${base}/.well-known/openid-configuration`, { ca: system.tls.ca });
    assert.equal(root.status, 308);
    assert.equal(root.headers.location, '/oidc/.well-known/openid-configuration');
    const discovery = JSON.parse((await call(`${base}/oidc/.well-known/openid-configuration`, { ca: system.tls.ca })).body) as Record<string, unknown>;
    assert.equal(discovery['issuer'], `${base}/oidc`);
    assert.deepEqual(discovery['response_types_supported'], ['code']);
    assert.deepEqual(discovery['code_challenge_methods_supported'], ['S256']);
    assert.equal(discovery['claims_parameter_supported'], true);
    assert.equal(discovery['backchannel_logout_supported'], true);
    assert.deepEqual(discovery['acr_values_supported'], ['http://id.sambi.se/loa/loa3', 'http://id.sambi.se/loa/loa2']);
    assert.ok((discovery['claims_supported'] as string[]).includes('commissionHsaId'));
    assert.ok((discovery['scopes_supported'] as string[]).includes('commission'));
    assert.deepEqual(discovery['token_endpoint_auth_methods_supported'], ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
  });
});
