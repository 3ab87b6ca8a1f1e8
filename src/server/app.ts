import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import helmet from '@fastify/helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { ASSET_PATHS, html, LOCALE_COOKIE, pickLocale, renderPage, translator, type Locale } from '../web/index.ts';
import type { Metrics } from './metrics.ts';
import type { Part } from './part.ts';
import { renderStartPage } from './start-page.ts';

export interface Readiness {
  check(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

export interface AppDependencies {
  readonly config: Config;
  readonly log: Logger;
  readonly parts: readonly Part[];
  readonly metrics: Metrics;
  readonly readiness: Readiness;
}

/** Content Security Policy for every page: nothing from elsewhere, no inline code, never framed. */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  // Designsystemet's icons are inline SVG data URLs.
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The HTTPS server: pages, APIs and protocol endpoints of every part. */
export async function buildHttpsApp(deps: AppDependencies, tls: { cert: string; key: string }): Promise<FastifyInstance> {
  // Routes do not care which transport carries them; the HTTPS typing would leak into every plugin.
  const app = Fastify({ ...commonOptions(deps), https: { cert: tls.cert, key: tls.key } }) as unknown as FastifyInstance;
  await setUp(app, deps, 'https');
  await app.register(helmet, {
    contentSecurityPolicy: { directives: CONTENT_SECURITY_POLICY },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  await registerAssets(app);
  app.get('/', async (request, reply) => {
    const locale = rememberLocale(request, reply);
    return sendPage(reply, renderStartPage({ locale, currentUrl: request.url, parts: deps.parts, regionName: deps.config.demo.regionName }));
  });
  for (const part of deps.parts) if (part.https) await app.register(part.https);
  return app;
}

/** The plain-HTTP server: only what relying parties must fetch without TLS (CRL, OCSP, CA certificates) and probes. */
export async function buildHttpApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify(commonOptions(deps));
  await setUp(app, deps, 'http');
  for (const part of deps.parts) if (part.http) await app.register(part.http);
  return app;
}

function commonOptions(deps: AppDependencies) {
  return {
    loggerInstance: deps.log as FastifyBaseLogger,
    trustProxy: deps.config.server.trustProxy,
    // Behind a trusted proxy, keep its request id so one request can be followed across both logs.
    genReqId: (request: { headers: Record<string, unknown> }) => {
      const incoming = request.headers['x-request-id'];
      return deps.config.server.trustProxy && typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: 1_048_576,
    return503OnClosing: true,
  } as const;
}

async function setUp(app: FastifyInstance, deps: AppDependencies, server: 'https' | 'http'): Promise<void> {
  deps.metrics.instrument(app, server);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => answerError(request, reply, error));
  app.setNotFoundHandler((request, reply) => {
    // A person who typed the plain-HTTP address is sent to the HTTPS pages; machines fetching CRLs and OCSP never ask for HTML.
    if (server === 'http' && wantsHtml(request)) return reply.redirect(`${deps.config.server.publicBaseUrl}${request.url}`, 308);
    return answerError(request, reply, Object.assign(new Error('not found'), { statusCode: 404 }) as FastifyError);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const result = await deps.readiness.check();
    return reply.code(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'not ready', checks: result.checks });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}

/**
 * One place turns every failure into an answer: JSON for API callers, a page
 * for browsers. Client errors say what was wrong; server errors say only that
 * something failed and the request id, never a stack or internals.
 */
function answerError(request: FastifyRequest, reply: FastifyReply, error: FastifyError) {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  const message = status >= 500 ? 'internal error' : error.message;
  reply.code(status);
  if (!wantsHtml(request)) return reply.send({ error: status === 404 ? 'not_found' : status >= 500 ? 'internal_error' : 'bad_request', message, requestId: request.id });
  const locale = pickLocale(request);
  const t = translator(locale);
  const [title, body] =
    status === 404
      ? [t('error.notFound.title'), t('error.notFound.body')]
      : status >= 500
        ? [t('error.internal.title'), t('error.internal.body')]
        : [t('error.badRequest.title'), error.message];
  return sendPage(
    reply,
    renderPage({
      locale,
      title,
      currentUrl: request.url,
      body: html`<h1 class="ds-heading" data-size="lg">${title}</h1>
<p class="ds-paragraph">${body}</p>
<p class="ds-paragraph">${t('error.reference')}: <code>${request.id}</code></p>
<p class="ds-paragraph"><a class="ds-link" href="/">${t('error.backToStart')}</a></p>`,
    }),
  );
}

function wantsHtml(request: FastifyRequest): boolean {
  return request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
}

export function sendPage(reply: FastifyReply, page: string) {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
}

/** Remembers an explicit `?lang=` choice for the next pages. */
export function rememberLocale(request: FastifyRequest, reply: FastifyReply): Locale {
  const locale = pickLocale(request);
  if ((request.query as Record<string, unknown>)['lang'] === locale) {
    reply.header('set-cookie', `${LOCALE_COOKIE}=${locale}; Path=/; Max-Age=31536000; SameSite=Lax; Secure`);
  }
  return locale;
}

const require = createRequire(import.meta.url);
const ASSET_FILES: Record<string, { file: string; type: string }> = {
  [ASSET_PATHS.designsystem]: { file: require.resolve('@digdir/designsystemet-css'), type: 'text/css; charset=utf-8' },
  [ASSET_PATHS.theme]: { file: require.resolve('@digdir/designsystemet-css/theme.css'), type: 'text/css; charset=utf-8' },
  [ASSET_PATHS.site]: { file: new URL('../web/tillit.css', import.meta.url).pathname, type: 'text/css; charset=utf-8' },
  [ASSET_PATHS.qrPoll]: { file: new URL('../web/qr-poll.js', import.meta.url).pathname, type: 'text/javascript; charset=utf-8' },
};

/** Only the named style sheets and script are served: no directory is exposed. Read once at start. */
async function registerAssets(app: FastifyInstance): Promise<void> {
  for (const [path, asset] of Object.entries(ASSET_FILES)) {
    const body = await readFile(asset.file);
    app.get(path, async (_request, reply) => reply.type(asset.type).header('cache-control', 'public, max-age=3600').send(body));
  }
}
