import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as client from 'openid-client';
import { rememberLocale, sendPage } from '../../server/index.ts';
import type { Database, EphemeralStore } from '../../store/index.ts';
import { defineMessages, html, renderPage, type Locale } from '../../web/index.ts';
import { readCookie } from '../session/index.ts';
import { CLAIM_NAMES } from '../claims/index.ts';
import { addClient, findClient } from './clients.ts';
import { inProcessRelyingParty } from './relying-party.ts';
import type { Sealer } from './sealing.ts';

export const DEMO_CLIENT_ID = 'tillit-demo';
const COOKIE = 'tillit_demo';
const TTL_MS = 3_600_000;

const messages = defineMessages({
  sv: {
    title: 'Demo-e-tjänst',
    intro: 'En liten e-tjänst som loggar in med Tillits OpenID Connect. Kopiera gärna koden (src/idp/oidc/demo.ts).',
    login: 'Logga in',
    again: 'Byt uppdrag',
    logout: 'Logga ut',
    claims: 'Claims i ID-token',
    token: 'ID-token (JWT)',
    failed: 'Inloggningen avbröts',
  },
  en: {
    title: 'Demo e-service',
    intro: 'A small e-service that logs in with Tillit’s OpenID Connect. Copy its code (src/idp/oidc/demo.ts).',
    login: 'Log in',
    again: 'Choose another commission',
    logout: 'Log out',
    claims: 'Claims in the ID token',
    token: 'ID token (JWT)',
    failed: 'The login was cancelled',
  },
});

interface DemoState {
  verifier?: string;
  state?: string;
  nonce?: string;
  idToken?: string;
  claims?: Record<string, unknown>;
  error?: string;
}

/** Registers the demo client once (idempotent: the demo seed may run again after a failure). */
export async function ensureDemoClient(db: Database, sealer: Sealer, baseUrl: string): Promise<void> {
  if (await findClient(db, DEMO_CLIENT_ID)) return;
  await addClient(
    db,
    sealer,
    { displayName: 'Demo-e-tjänst', redirectUris: [`${baseUrl}/demo/callback`], postLogoutRedirectUris: [`${baseUrl}/demo`], allowedClaims: [...CLAIM_NAMES], methods: ['oob-other', 'oob-same'] },
    DEMO_CLIENT_ID,
  );
}

/**
 * `/demo`: a relying party built in, the way an e-service would be written
 * with openid-client, talking to the provider in-process (see relying-party.ts).
 */
export function demoRoutes(deps: { baseUrl: string; db: Database; sealer: Sealer; ephemeral: EphemeralStore }) {
  return async (app: FastifyInstance) => {
    const rp = inProcessRelyingParty(app, { baseUrl: deps.baseUrl, clientId: DEMO_CLIENT_ID, db: deps.db, sealer: async () => deps.sealer });

    const stateOf = async (request: FastifyRequest): Promise<{ id: string; state: DemoState }> => {
      const id = readCookie(request.headers.cookie, COOKIE);
      const raw = id && /^[A-Za-z0-9_-]{43}$/.test(id) ? await deps.ephemeral.get(`demo:${id}`) : null;
      return raw ? { id: id!, state: JSON.parse(raw) as DemoState } : { id: randomBytes(32).toString('base64url'), state: {} };
    };
    const save = async (reply: FastifyReply, id: string, state: DemoState) => {
      await deps.ephemeral.set(`demo:${id}`, JSON.stringify(state), TTL_MS);
      reply.header('set-cookie', `${COOKIE}=${id}; Path=/demo; Max-Age=3600; HttpOnly; Secure; SameSite=Lax`);
    };

    app.get('/demo', async (request, reply) => {
      const locale = rememberLocale(request, reply);
      const { state } = await stateOf(request);
      return sendPage(reply, demoPage(locale, request.url, state));
    });

    app.get('/demo/login', async (request, reply) => {
      const { id, state } = await stateOf(request);
      const verifier = client.randomPKCECodeVerifier();
      const next: DemoState = { ...state, verifier, state: client.randomState(), nonce: client.randomNonce() };
      await save(reply, id, next);
      const url = client.buildAuthorizationUrl(await rp(), {
        redirect_uri: `${deps.baseUrl}/demo/callback`,
        scope: 'openid profile personalIdentityNumber',
        claims: JSON.stringify({ id_token: { commissionHsaId: { essential: true }, commissionName: null, healthCareUnitName: null, healthCareProviderName: null, employeeHsaId: null } }),
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: next.state!,
        nonce: next.nonce!,
      });
      return reply.redirect(url.href, 303);
    });

    app.get('/demo/callback', async (request, reply) => {
      const { id, state } = await stateOf(request);
      const current = new URL(request.url, deps.baseUrl);
      if (current.searchParams.get('error')) {
        await save(reply, id, { error: current.searchParams.get('error_description') ?? current.searchParams.get('error')! });
        return reply.redirect('/demo', 303);
      }
      const tokens = await client.authorizationCodeGrant(await rp(), current, { pkceCodeVerifier: state.verifier!, expectedState: state.state!, expectedNonce: state.nonce! });
      await save(reply, id, { idToken: tokens.id_token!, claims: tokens.claims() as Record<string, unknown> });
      return reply.redirect('/demo', 303);
    });

    app.get('/demo/logout', async (request, reply) => {
      const { id, state } = await stateOf(request);
      await save(reply, id, {});
      if (!state.idToken) return reply.redirect('/demo', 303);
      return reply.redirect(client.buildEndSessionUrl(await rp(), { id_token_hint: state.idToken, post_logout_redirect_uri: `${deps.baseUrl}/demo` }).href, 303);
    });
  };
}

function demoPage(locale: Locale, currentUrl: string, state: DemoState): string {
  const t = messages(locale);
  const claims = state.claims ? Object.entries(state.claims) : [];
  return renderPage({
    locale,
    title: t('title'),
    currentUrl,
    body: html`<h1 class="ds-heading" data-size="lg">${t('title')}</h1>
<p class="ds-paragraph">${t('intro')}</p>
${state.error ? html`<p class="ds-paragraph" role="alert">${t('failed')}: ${state.error}</p>` : ''}
${
  claims.length
    ? html`<h2 class="ds-heading" data-size="md">${t('claims')}</h2>
<table class="ds-table"><tbody>${claims.map(([name, value]) => html`<tr><th scope="row">${name}</th><td><code>${typeof value === 'string' ? value : JSON.stringify(value)}</code></td></tr>`)}</tbody></table>
<h2 class="ds-heading" data-size="md">${t('token')}</h2><p class="ds-paragraph"><code class="tillit-wrap">${state.idToken ?? ''}</code></p>
<p><a class="ds-button" data-variant="primary" href="/demo/login">${t('again')}</a> <a class="ds-button" data-variant="secondary" href="/demo/logout">${t('logout')}</a></p>`
    : html`<p><a class="ds-button" data-variant="primary" href="/demo/login">${t('login')}</a></p>`
}`,
  });
}
