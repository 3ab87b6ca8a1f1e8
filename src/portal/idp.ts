import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { addClient, findClient, inProcessRelyingParty, openSealer } from '../idp/oidc/index.ts';
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
 * The portal's side of OpenID Connect, talking to the provider in-process
 * as the demo e-service does.
 */
export function portalRelyingParty(app: FastifyInstance, db: Database, config: Config, now: () => number): PortalRelyingParty {
  const base = config.server.publicBaseUrl;
  const rp = inProcessRelyingParty(app, { baseUrl: base, clientId: PORTAL_CLIENT_ID, db, sealer: () => openSealer(config) });

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
