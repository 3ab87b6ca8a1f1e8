import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import type { Database } from '../../store/index.ts';
import { clientMetadata } from './clients.ts';
import type { Sealer } from './sealing.ts';

export interface InProcessRelyingPartyOptions {
  /** The installation's public base URL; the issuer is `<baseUrl>/oidc`. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly db: Database;
  /** Opens the client's secret; asked only when the configuration is first made. */
  readonly sealer: () => Promise<Sealer>;
}

/**
 * openid-client's configuration for a relying party built into Tillit (the
 * demo e-service, the portal). It talks to the provider in-process (Fastify
 * inject on `app`), so it needs no network path or certificate trust back to
 * itself. Made once on first use; a failure is not kept, the next call tries again.
 */
export function inProcessRelyingParty(app: FastifyInstance, options: InProcessRelyingPartyOptions): () => Promise<client.Configuration> {
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
  return () =>
    (configuration ??= (async () => {
      const metadata = await clientMetadata(options.db, await options.sealer(), options.clientId);
      // The endpoints are ours and known: no discovery round trip (through inject the provider would see plain HTTP and advertise http URLs).
      const issuer = `${options.baseUrl}/oidc`;
      const server = {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        end_session_endpoint: `${issuer}/session/end`,
        introspection_endpoint: `${issuer}/token/introspection`,
        userinfo_endpoint: `${issuer}/me`,
      };
      const config = new client.Configuration(server, options.clientId, undefined, client.ClientSecretBasic(String(metadata?.['client_secret'])));
      config[client.customFetch] = fetchInProcess;
      return config;
    })().catch((error: unknown) => {
      configuration = undefined;
      throw error;
    }));
}
