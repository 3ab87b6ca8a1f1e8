import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Part, PartFactory } from '../src/server/index.ts';
import { call } from './support/http.ts';
import { startTestSystem } from './support/system.ts';

/** A part that exercises the frame: a slow route, a failing route, a plain-HTTP route and a demo seed. */
function probePart(seeded: string[]): PartFactory {
  const https: FastifyPluginAsync = async (app) => {
    app.get('/probe/slow', async () => {
      await sleep(400);
      return { done: true };
    });
    app.get('/probe/fail', async () => {
      throw new Error('database password is hunter2');
    });
    app.post('/probe/echo', async (request) => request.body);
  };
  const http: FastifyPluginAsync = async (app) => {
    app.get('/probe/plain', async () => 'plain');
  };
  return async (): Promise<Part> => ({
    name: 'probe',
    title: { sv: 'Sond', en: 'Probe' },
    description: { sv: 'En del för test', en: 'A part for tests' },
    links: [{ href: '/probe/slow', label: { sv: 'Långsam', en: 'Slow' } }],
    https,
    http,
    async seedDemo() {
      seeded.push('seeded');
      return ['probe demo line'];
    },
  });
}

describe('the running system', () => {
  const seeded: string[] = [];
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let ca: string;
  before(async () => {
    system = await startTestSystem({}, new Map([['probe', probePart(seeded)]]));
    ca = system.tls.ca;
  });
  after(() => system.stop());

  it('serves HTTPS with a certificate for localhost that a client can verify', async () => {
    const cert = new X509Certificate(system.tls.ca);
    assert.ok(cert.checkHost('localhost'));
    assert.ok(cert.checkIP('127.0.0.1'));
    const answer = await call(`${system.httpsUrl}/healthz`, { ca });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { status: 'ok' });
  });

  it('is ready when the database is migrated and the short-lived store answers', async () => {
    const answer = await call(`${system.httpsUrl}/readyz`, { ca });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { status: 'ready', checks: { database: true, migrations: true, ephemeralStore: true } });
  });

  it('gives every response a request id and counts requests in Prometheus text', async () => {
    const first = await call(`${system.httpsUrl}/healthz`, { ca });
    const second = await call(`${system.httpsUrl}/healthz`, { ca });
    assert.match(String(first.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.notEqual(first.headers['x-request-id'], second.headers['x-request-id']);
    const metrics = await call(`${system.httpsUrl}/metrics`, { ca });
    assert.match(String(metrics.headers['content-type']), /^text\/plain/);
    assert.match(metrics.body, /tillit_http_requests_total\{server="https",method="GET",route="\/healthz",status="200"\} \d+/);
    assert.match(metrics.body, /tillit_process_cpu_seconds_total/);
  });

  it('ignores a client-supplied request id when no proxy is trusted', async () => {
    const answer = await call(`${system.httpsUrl}/healthz`, { ca, headers: { 'x-request-id': 'forged-id' } });
    assert.notEqual(answer.headers['x-request-id'], 'forged-id');
  });

  it('sends strict security headers on pages', async () => {
    const answer = await call(`${system.httpsUrl}/`, { ca });
    const csp = String(answer.headers['content-security-policy']);
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
      assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
    }
    assert.equal(answer.headers['x-frame-options'], 'DENY');
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.match(String(answer.headers['strict-transport-security']), /max-age=31536000/);
    assert.equal(answer.headers['cache-control'], 'no-store');
  });

  it('shows the start page in Swedish by default and in English on request, listing the parts', async () => {
    const sv = await call(`${system.httpsUrl}/`, { ca });
    assert.match(sv.body, /<html lang="sv"/);
    assert.match(sv.body, /Delar som körs/);
    assert.match(sv.body, /data-part="probe"[\s\S]*Sond[\s\S]*href="\/probe\/slow"/);
    const byHeader = await call(`${system.httpsUrl}/`, { ca, headers: { 'accept-language': 'en-US,en;q=0.9' } });
    assert.match(byHeader.body, /<html lang="en"/);
    assert.match(byHeader.body, /Running parts/);
    const bySwitch = await call(`${system.httpsUrl}/?lang=en`, { ca, headers: { 'accept-language': 'sv' } });
    assert.match(bySwitch.body, /<html lang="en"/);
    assert.match(String(bySwitch.headers['set-cookie']), /^tillit_lang=en; Path=\/; .*SameSite=Lax; Secure/);
    const byCookie = await call(`${system.httpsUrl}/`, { ca, headers: { cookie: 'tillit_lang=en' } });
    assert.match(byCookie.body, /<html lang="en"/);
  });

  it('serves the design system style sheets it links, and nothing else from disk', async () => {
    const page = await call(`${system.httpsUrl}/`, { ca });
    const sheets = [...page.body.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((m) => m[1]!);
    assert.equal(sheets.length, 3);
    for (const sheet of sheets) {
      const answer = await call(`${system.httpsUrl}${sheet}`, { ca });
      assert.equal(answer.status, 200, sheet);
      assert.match(String(answer.headers['content-type']), /^text\/css/);
      assert.ok(answer.body.length > 100);
    }
    assert.equal((await call(`${system.httpsUrl}/assets/../package.json`, { ca })).status, 404);
    assert.equal((await call(`${system.httpsUrl}/assets/index.css`, { ca })).status, 404);
  });

  it('serves the QR pages\' one script as JavaScript, whatever parts run, and no other script of its folder', async () => {
    const script = await call(`${system.httpsUrl}/assets/qr-poll.js`, { ca });
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.match(script.body, /data-status-url/);
    assert.equal((await call(`${system.httpsUrl}/assets/i18n.ts`, { ca })).status, 404);
    assert.equal((await call(`${system.httpsUrl}/assets/qr-poll.js/..%2Fi18n.ts`, { ca })).status, 404);
  });

  it('answers unknown paths with 404 as JSON for APIs and as a page for browsers', async () => {
    const api = await call(`${system.httpsUrl}/no/such/thing`, { ca });
    assert.equal(api.status, 404);
    const body = JSON.parse(api.body);
    assert.equal(body.error, 'not_found');
    assert.equal(body.requestId, api.headers['x-request-id']);
    const page = await call(`${system.httpsUrl}/no/such/thing`, { ca, headers: { accept: 'text/html', 'accept-language': 'en' } });
    assert.equal(page.status, 404);
    assert.match(page.body, /Page not found/);
  });

  it('hides internals when a route fails: no stack, no message, just a reference', async () => {
    const api = await call(`${system.httpsUrl}/probe/fail`, { ca });
    assert.equal(api.status, 500);
    assert.deepEqual(Object.keys(JSON.parse(api.body)).sort(), ['error', 'message', 'requestId']);
    assert.equal(JSON.parse(api.body).message, 'internal error');
    const page = await call(`${system.httpsUrl}/probe/fail`, { ca, headers: { accept: 'text/html' } });
    assert.equal(page.status, 500);
    assert.match(page.body, /Något gick fel/);
    for (const body of [api.body, page.body]) {
      assert.doesNotMatch(body, /hunter2|at .*\.ts:\d+/);
    }
  });

  it('refuses malformed JSON and oversized bodies with a clear client error', async () => {
    const malformed = await call(`${system.httpsUrl}/probe/echo`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' });
    assert.equal(malformed.status, 400);
    assert.match(JSON.parse(malformed.body).message, /JSON/);
    const huge = await call(`${system.httpsUrl}/probe/echo`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(1_100_000) }) });
    assert.equal(huge.status, 413);
  });

  it('keeps the plain-HTTP server to what must be plain, sending people to HTTPS', async () => {
    assert.equal((await call(`${system.httpUrl}/probe/plain`)).body, 'plain');
    assert.equal((await call(`${system.httpUrl}/healthz`)).status, 200);
    assert.equal((await call(`${system.httpUrl}/`)).status, 404);
    const browser = await call(`${system.httpUrl}/?lang=en`, { headers: { accept: 'text/html' } });
    assert.equal(browser.status, 308);
    assert.equal(browser.headers.location, `${system.config.server.publicBaseUrl}/?lang=en`);
    assert.equal((await call(`${system.httpUrl}/probe/slow`)).status, 404);
  });

  it('seeded the demo once, on the first start', () => {
    assert.deepEqual(seeded, ['seeded']);
    assert.deepEqual(system.demoLines, ['probe demo line']);
  });
});

describe('graceful shutdown', () => {
  it('finishes a request in flight, then refuses new connections', async () => {
    const system = await startTestSystem({}, new Map([['probe', probePart([])]]));
    const inFlight = call(`${system.httpsUrl}/probe/slow`, { ca: system.tls.ca });
    await sleep(100);
    const stopped = system.stop();
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { done: true });
    await stopped;
    await assert.rejects(call(`${system.httpsUrl}/healthz`, { ca: system.tls.ca }), /ECONNREFUSED/);
  });
});

describe('part selection', () => {
  it('refuses a part this build does not have, before touching any store', async () => {
    await assert.rejects(startTestSystem({ parts: ['probe', 'nonsense'] }, new Map([['probe', probePart([])]])), /parts: unknown part 'nonsense' \(this build has: probe\)/);
  });

  it('runs only the parts named', async () => {
    const system = await startTestSystem({ parts: [] }, new Map());
    try {
      const page = await call(`${system.httpsUrl}/?lang=en`, { ca: system.tls.ca });
      assert.match(page.body, /No parts are enabled/);
    } finally {
      await system.stop();
    }
  });
});
