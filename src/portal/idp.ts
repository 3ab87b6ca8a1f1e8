import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { addClient, clientMetadata, findClient, openSealer } from '../idp/oidc/index.ts';
import type { Config } from '../config/index.ts';
import type { Database } from '../store/index.ts';

/** The portal is a relying party of Tillit's own IdP, registered like any e-service. */
export const PORTAL_CLIENT_ID = 'tillit-portal';
const CLAIMS = ['name', 'given_name', 'family_name', 'personalIdentityNumber', 'employeeHsaId', 'allEmployeeHsaIds'];
const TOKEN_CACHE_MS = 30_000;

/** Registers the portal's client once (idempotent). */
export async function ensurePortalClient(db: Database, config: Config): Promise<void> {
  if (await findClient(db, PORTAL_CLIENT_ID)) return;
  const base = config.server.publicBaseUrl;
  await addClient(
    db,
    await openSealer(config),
    { displayName: 'eID-portalen', redirectUris: [`${base}/portal/callback`], postLogoutRedirectUris: [`${base}/portal`], allowedClaims: CLAIMS, methods: ['oob-other', 'oob-same', 'mtls'] },
    PORTAL_CLIENT_ID,
  );
}

export interface PortalRelyingParty {
  readonly configuration: () => Promise<client.Configuration>;
  readonly redirectUri: string;
  /** The administrator's HSA-id for an access token the IdP issued to the portal's client, or null. */
  bearerHsaId(token: string): Promise<string | null>;
}

/**
 * The portal's side of OpenID Connect. It talks to the provider in-process
 * (Fastify inject), as the demo e-service does: no network path or
 * certificate trust back to itself.
 */
export function portalRelyingParty(app: FastifyInstance, db: Database, config: Config, now: () => number): PortalRelyingParty {
  const base = config.server.publicBaseUrl;
  const fetchInProcess = async (url: string, init: { method?: string; headers?: HeadersInit; body?: unknown }) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const target = new URL(url);
    const answer = await app.inject({ method: (init.method ?? 'GET') as 'GET', url: `${target.pathname}${target.search}`, headers: { ...headers, host: target.host }, ...(init.body !== undefined && init.body !== null ? { payload: String(init.body) } : {}) });
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : String(v));
    return new Response(answer.statusCode === 204 ? null : new Uint8Array(answer.rawPayload), { status: answer.statusCode, headers: responseHeaders });
  };
  let configuration: Promise<client.Configuration> | undefined;
  const rp = () =>
    (configuration ??= (async () => {
      const metadata = await clientMetadata(db, await openSealer(config), PORTAL_CLIENT_ID);
      const issuer = `${base}/oidc`;
      const server = {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        end_session_endpoint: `${issuer}/session/end`,
        introspection_endpoint: `${issuer}/token/introspection`,
        userinfo_endpoint: `${issuer}/me`,
      };
      const rpConfig = new client.Configuration(server, PORTAL_CLIENT_ID, undefined, client.ClientSecretBasic(String(metadata?.['client_secret'])));
      rpConfig[client.customFetch] = fetchInProcess;
      return rpConfig;
    })().catch((error: unknown) => {
      configuration = undefined;
      throw error;
    }));

  const cache = new Map<string, { hsaId: string | null; until: number }>();
  return {
    configuration: rp,
    redirectUri: `${base}/portal/callback`,
    async bearerHsaId(token) {
      if (!/^[A-Za-z0-9._~+/-]{16,4096}=*$/.test(token)) return null;
      const key = createHash('sha256').update(token).digest('base64url');
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.hsaId;
      const rpConfig = await rp();
      // Introspection answers only for tokens issued to this client: a token for another e-service is refused here.
      const introspected = await client.tokenIntrospection(rpConfig, token);
      let hsaId: string | null = null;
      if (introspected.active && introspected.client_id === PORTAL_CLIENT_ID && typeof introspected.sub === 'string') {
        const userinfo = await client.fetchUserInfo(rpConfig, token, introspected.sub);
        hsaId = typeof userinfo['employeeHsaId'] === 'string' ? userinfo['employeeHsaId'] : null;
      }
      const expires = typeof introspected.exp === 'number' ? introspected.exp * 1000 : 0;
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { hsaId, until: Math.min(now() + TOKEN_CACHE_MS, hsaId ? expires : now() + TOKEN_CACHE_MS) });
      return hsaId;
    },
  };
}
