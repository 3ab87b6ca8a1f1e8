import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { curlGet } from '../../test/support/curl.ts';
import { openssl, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import { pkiFrom, type Pki } from '../pki/index.ts';
import { startSystem, type RunningSystem } from '../system/index.ts';
import { authnFrom, type CardLoginService, type CardOutcome } from './index.ts';

const SIX_YEARS_MS = 6 * 365 * 86_400_000;

describe('card login over mutual TLS (curl)', () => {
  let system: RunningSystem;
  let pki: Pki;
  let cards: CardLoginService;
  let files: ReturnType<typeof scratch>;
  let cacert: string;
  let base: string;
  let offset = 0;
  let holder: { hsaId: string; personnummer: string; givenName: string; surname: string };

  before(async () => {
    const config = loadConfig({
      env: {},
      overrides: { dataDir: 'memory://', server: { host: '127.0.0.1', httpsPort: 0, httpPort: 0 }, authn: { mtls: { port: 0, maxAttempts: 3, checksPerRequest: 2 }, callerMtls: { port: 0 } }, parts: ['pki', 'directory', 'authn'], directory: { demo: { persons: 10 } }, log: { level: 'silent' } },
    });
    system = await startSystem(config, { log: pino({ level: process.env['TEST_LOG'] ?? 'silent' }), now: () => new Date(Date.now() + offset) });
    base = config.server.publicBaseUrl;
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    cards = authnFrom(new Map(system.parts.map((p) => [p.name, p]))).cardLogins!;
    files = scratch();
    cacert = files.file('root.pem', system.tls.ca);
    const [row] = await system.db.query<typeof holder>(
      `select s.hsa_id as "hsaId", p.personnummer, p.given_name as "givenName", p.surname from directory_service_identity s join directory_person p on p.id = s.person_id where s.valid_to is null order by s.hsa_id limit 1`,
    );
    holder = row!;
  });
  after(async () => {
    await system?.stop();
    files?.done();
  });

  async function card(profile: Parameters<Pki['issueWithNewKey']>[0], serialNumber: string, name: string) {
    const issued = await pki.issueWithNewKey(profile, { commonName: `${holder.givenName} ${holder.surname}`, givenName: holder.givenName, surname: holder.surname, serialNumber });
    return { serial: issued.serial, cert: files.file(`${name}.pem`, issued.certificatePem), key: files.file(`${name}.key`, issued.privateKeyPem) };
  }

  /** Begins a login, follows the start page to the rolling host, presents `presented` there; returns the outcome and the hosts used. */
  async function attempt(presented: { cert: string; key: string } | undefined, requirements = {}, cookie?: string) {
    const { requestId, startPath } = await cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: `${base}/back?x=1`, requirements });
    const start = await curlGet(`${system.httpsUrl}${startPath}`, { cacert, ...(cookie ? { cookie } : {}) });
    assert.equal(start.status, 303, 'the start page sends the browser to a rolling host');
    const rolling = new URL(start.location);
    const login = await curlGet(start.location, { cacert, resolve: [rolling.hostname], ...(presented ?? {}) });
    assert.equal(login.exitCode, 0, 'curl verified the listener’s certificate for the rolling name against the root');
    assert.equal(login.status, 303);
    const back = new URL(login.location);
    assert.equal(`${back.origin}${back.pathname}`, `${base}/back`);
    assert.equal(back.searchParams.get('x'), '1');
    const outcome = await cards.redeem(back.searchParams.get('card'), requestId);
    assert.ok(outcome, 'the handle redeems once for its request');
    assert.equal(await cards.redeem(back.searchParams.get('card'), requestId), undefined, 'and never twice');
    return { outcome: outcome as CardOutcome, host: rolling.hostname, setCookie: start.setCookie };
  }

  it('logs in with the HSA-id authentication certificate and maps it to the person in the directory', async () => {
    const good = await card('person-auth-hsa-loa3', holder.hsaId, 'good');
    const { outcome, host, setCookie } = await attempt(good);
    assert.equal(host, 'mtls-1.localhost');
    assert.match(setCookie, /^tillit_card_attempts=1;.*HttpOnly; Secure/);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.equal(outcome.login.user.hsaId, holder.hsaId);
    assert.equal(outcome.login.user.personalIdentityNumber, holder.personnummer);
    assert.equal(outcome.login.knownInDirectory, true);
    assert.equal(outcome.login.loa, 3);
    assert.equal(outcome.login.certificate.serialNumber, good.serial);
  });

  it('sends each new attempt of this browser to the next host, and after the last one says to restart the browser', async () => {
    const good = await card('person-auth-pnr-loa3', holder.personnummer, 'pnr-good');
    assert.equal((await attempt(good, {}, 'tillit_card_attempts=1')).host, 'mtls-2.localhost');
    assert.equal((await attempt(good, {}, 'tillit_card_attempts=2')).host, 'mtls-3.localhost');
    const { startPath } = await cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: `${base}/back` });
    const exhausted = await curlGet(`${system.httpsUrl}${startPath}`, { cacert, cookie: 'tillit_card_attempts=3' });
    assert.equal(exhausted.status, 200);
    assert.equal(exhausted.location, '');
  });

  for (const [what, profile, code, requirements] of [
    ['the signature certificate', 'person-sign-hsa-loa3', 'signatureCertificate', {}],
    ['the personnummer certificate where the HSA-id one is needed', 'person-auth-pnr-loa3', 'personnummerCertificate', { hsaId: 'SE0000000000-XXXX' }],
  ] as const) {
    it(`refuses ${what} and says so`, async () => {
      const chosen = await card(profile, profile.includes('pnr') ? holder.personnummer : holder.hsaId, code);
      const { outcome } = await attempt(chosen, requirements);
      assert.equal(outcome.ok, false);
      assert.ok(!outcome.ok && outcome.code === code, JSON.stringify(outcome));
      assert.ok(!outcome.ok && outcome.certificate?.serialNumber === chosen.serial);
    });
  }

  it('refuses a certificate from a foreign CA (made with openssl), naming its issuer', async () => {
    const ca = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=Other Provider CA/O=Elsewhere', '-keyout', files.path('foreign-ca.key'), '-out', files.path('foreign-ca.pem')];
    assert.ok(openssl(ca).ok);
    assert.ok(openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${holder.givenName}/serialNumber=${holder.hsaId}`, '-keyout', files.path('foreign.key'), '-out', files.path('foreign.csr')]).ok);
    assert.ok(openssl(['x509', '-req', '-in', files.path('foreign.csr'), '-CA', files.path('foreign-ca.pem'), '-CAkey', files.path('foreign-ca.key'), '-days', '30', '-out', files.path('foreign.pem')]).ok);
    const { outcome } = await attempt({ cert: files.path('foreign.pem'), key: files.path('foreign.key') });
    assert.ok(!outcome.ok && outcome.code === 'foreignCa', JSON.stringify(outcome));
    assert.match(outcome.certificate!.issuer, /CN=Other Provider CA/);
  });

  it('refuses a test card (the test CA is trusted nowhere in production)', async () => {
    const test = await card('test', holder.hsaId, 'testcard');
    const { outcome } = await attempt(test);
    assert.ok(!outcome.ok && outcome.code === 'foreignCa', JSON.stringify(outcome));
  });

  it('refuses a revoked card', async () => {
    const revoked = await card('person-auth-hsa-loa3', holder.hsaId, 'revoked');
    await pki.revoke({ serial: revoked.serial, reason: 'keyCompromise', actor: 'test' });
    const { outcome } = await attempt(revoked);
    assert.ok(!outcome.ok && outcome.code === 'revoked', JSON.stringify(outcome));
  });

  it('refuses no certificate at all', async () => {
    const { outcome } = await attempt(undefined);
    assert.deepEqual(outcome, { ok: false, code: 'noCertificate', reason: 'the browser sent no certificate', certificate: null });
  });

  it('refuses an expired card (the clock six years on)', async () => {
    const old = await card('person-auth-hsa-loa3', holder.hsaId, 'old');
    offset = SIX_YEARS_MS;
    try {
      const { outcome } = await attempt(old);
      assert.ok(!outcome.ok && outcome.code === 'expired', JSON.stringify(outcome));
    } finally {
      offset = 0;
    }
  });

  it('gives nothing for an unknown request, a forged handle or another request’s handle', async () => {
    const unknown = await curlGet(`${system.httpsUrl}/authn/card/start?request=${'A'.repeat(32)}`, { cacert });
    assert.equal(unknown.status, 410);
    // Straight to a rolling host with a made-up request: nothing is checked, the public host says it has expired.
    const port = new URL((await cards.nextAttempt((await cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: `${base}/back` })).requestId, 0) as { url: string }).url).port;
    const forged = await curlGet(`https://mtls-1.localhost:${port}/authn/card/login?request=%3Cscript%3E`, { cacert, resolve: ['mtls-1.localhost'] });
    assert.equal(forged.status, 303);
    assert.equal(forged.location, `${base}/authn/card/start?request=%3Cscript%3E`);
    const good = await card('person-auth-hsa-loa3', holder.hsaId, 'good2');
    const mine = await cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: `${base}/back` });
    const other = await cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: `${base}/back` });
    const start = await curlGet(`${system.httpsUrl}${mine.startPath}`, { cacert });
    const login = await curlGet(start.location, { cacert, resolve: [new URL(start.location).hostname], ...good });
    const handle = new URL(login.location).searchParams.get('card');
    assert.equal(await cards.redeem(handle, other.requestId), undefined);
    assert.equal(await cards.redeem(handle, mine.requestId), undefined, 'a handle tried for the wrong request is spent');
    assert.equal(await cards.redeem('x'.repeat(32), mine.requestId), undefined);
    // A third check on one request (checksPerRequest 2) is not made: the public host says the login has ended.
    await curlGet(start.location, { cacert, resolve: [new URL(start.location).hostname], ...good });
    const third = await curlGet(start.location, { cacert, resolve: [new URL(start.location).hostname], ...good });
    assert.equal(new URL(third.location).pathname, '/authn/card/start');
    await assert.rejects(cards.begin({ requester: { clientId: 'test', displayName: 'Test' }, returnTo: 'https://evil.example/steal' }), /returns to/);
  });
});

describe('a start that fails on a taken port', () => {
  it('closes the card login listener it had opened, so the port is free again', async () => {
    const { createServer } = await import('node:net');
    const listen = (port: number) =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(server));
      });
    const blocker = await listen(0);
    const probe = await listen(0);
    const cardPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: 'memory://',
        server: { host: '127.0.0.1', httpsPort: 0, httpPort: 0 },
        authn: { mtls: { port: cardPort }, callerMtls: { port: (blocker.address() as { port: number }).port } },
        parts: ['pki', 'directory', 'authn'],
        directory: { demo: { persons: 5 } },
        log: { level: 'silent' },
      },
    });
    try {
      await assert.rejects(startSystem(config, { log: pino({ level: 'silent' }) }), /EADDRINUSE/);
      const again = await listen(cardPort);
      await new Promise<void>((resolve) => again.close(() => resolve()));
    } finally {
      blocker.close();
    }
  });
});
