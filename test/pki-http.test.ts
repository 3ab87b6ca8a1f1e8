import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createPkiPart, pkiFrom, type Pki } from '../src/pki/index.ts';
import { call } from './support/http.ts';
import { openssl, opensslAsync, opensslCsr, scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';

/** GET returning raw bytes (CRLs and OCSP answers are binary). */
function getBytes(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

/** POST of an OCSP request's raw bytes. */
function postBytes(url: string, body: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request', 'content-length': body.length }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end(body);
  });
}

describe('PKI over plain HTTP: CRL, CA certificates and OCSP, checked with OpenSSL', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let pki: Pki;
  const files = scratch();
  let good: string;
  let revoked: string;

  before(async () => {
    system = await startTestSystem({}, new Map([['pki', createPkiPart]]));
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    files.file('root.pem', pki.caCertificate('root')!.certificate.toString('pem'));
    files.file('issuer.pem', pki.caCertificate('person-pnr-loa3')!.certificate.toString('pem'));
    const issue = async (name: string, pnr: string) => {
      const issued = await pki.issueFromCsr('person-auth-pnr-loa3', opensslCsr(files, name, { subject: `/CN=${name}/GN=${name}/SN=Test/serialNumber=${pnr}` }));
      return files.file(`${name}.pem`, issued.certificatePem);
    };
    good = await issue('good', '191212121212');
    revoked = await issue('revoked', '199001012385');
    const serial = openssl(['x509', '-in', revoked, '-noout', '-serial']).output.trim().split('=')[1]!;
    await pki.revoke({ serial, reason: 'keyCompromise', actor: 'test' });
  });
  after(async () => {
    files.done();
    await system.stop();
  });

  const ocsp = (cert: string, extra: string[] = []) =>
    opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', cert, ...extra]);

  it('answers good, revoked and unknown, signed by the CA’s delegated responder', async () => {
    const goodAnswer = await ocsp(good);
    assert.match(goodAnswer.output, /Response verify OK/);
    assert.match(goodAnswer.output, /good\.pem: good/);
    const revokedAnswer = await ocsp(revoked, ['-resp_text']);
    assert.match(revokedAnswer.output, /Response verify OK/);
    assert.match(revokedAnswer.output, /revoked\.pem: revoked/);
    assert.match(revokedAnswer.output, /Reason: keyCompromise/);
    assert.match(revokedAnswer.output, /Revocation Time: \w+ +\d+ \d\d:\d\d:\d\d \d{4} GMT/, 'whole seconds');
    assert.match(revokedAnswer.output, /Responder Id: [0-9A-F]{40}/, 'by key hash');
    // CertIDs hashed with SHA-256 as well as SHA-1.
    const sha256 = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-sha256', '-cert', good, '-resp_text']);
    assert.match(sha256.output, /Hash Algorithm: sha256/);
    assert.match(sha256.output, /good\.pem: good/);
    assert.match(sha256.output, /Response verify OK/);
    // A serial this CA never issued: asked by serial number.
    const unknown = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-serial', '0x1234567890abcdef']);
    assert.match(unknown.output, /0x1234567890abcdef: unknown/);
  });

  it('answers several certificates in one request, and echoes a nonce only when asked', async () => {
    const both = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', good, '-cert', revoked, '-resp_text']);
    assert.match(both.output, /good\.pem: good[\s\S]*revoked\.pem: revoked/);
    assert.match(both.output, /WARNING: no nonce in response|Response verify OK/);
    const withNonce = await ocsp(good, ['-resp_text']);
    assert.match(withNonce.output, /OCSP Nonce:/);
    assert.doesNotMatch(withNonce.output, /WARNING: no nonce/);
    const noNonce = await ocsp(good, ['-no_nonce', '-resp_text']);
    assert.doesNotMatch(noNonce.output, /OCSP Nonce:/);
    assert.match(noNonce.output, /Response verify OK/);
    for (const answer of [withNonce, noNonce]) {
      for (const time of answer.output.matchAll(/(?:Produced At|This Update|Next Update): (.*)/g)) assert.doesNotMatch(time[1]!, /\.\d+/, 'whole seconds');
    }
  });

  it('serves the RFC 5019 GET form with caching headers', async () => {
    openssl(['ocsp', '-issuer', files.path('issuer.pem'), '-cert', good, '-no_nonce', '-reqout', files.path('req.der')]);
    const encoded = encodeURIComponent(files.read('req.der').toString('base64'));
    const answer = await getBytes(`${system.httpUrl}/ocsp/${encoded}`);
    assert.equal(answer.status, 200);
    assert.deepEqual((await getBytes(`${system.httpUrl}/ocsp/${encoded}`)).body, answer.body, 'the pre-produced answer, not signed again');
    // Also for a CA that has never revoked anything (no revision recorded yet).
    const fresh = await pki.issueWithNewKey('function-client', { commonName: 'fresh', serialNumber: 'SE2321000016-F030' });
    const freshCa = files.file('function-ca.pem', pki.caCertificate('function')!.certificate.toString('pem'));
    openssl(['ocsp', '-issuer', freshCa, '-cert', files.file('fresh.pem', fresh.certificatePem), '-no_nonce', '-reqout', files.path('fresh-req.der')]);
    const freshUrl = `${system.httpUrl}/ocsp/${encodeURIComponent(files.read('fresh-req.der').toString('base64'))}`;
    assert.deepEqual((await getBytes(freshUrl)).body, (await getBytes(freshUrl)).body);
    assert.equal(answer.headers['content-type'], 'application/ocsp-response');
    assert.match(String(answer.headers['cache-control']), /max-age=\d+/);
    files.file('resp.der', answer.body);
    const checked = openssl(['ocsp', '-respin', files.path('resp.der'), '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', good, '-no_nonce']);
    assert.match(checked.output, /Response verify OK/);
    assert.match(checked.output, /good\.pem: good/);
  });

  it('answers malformedRequest to garbage and unauthorized for a CA it does not serve', async () => {
    for (const body of [Buffer.from('garbage'), Buffer.alloc(0), Buffer.alloc(20_000, 1)]) {
      const answer = await call(`${system.httpUrl}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: body.toString('latin1') });
      assert.ok(answer.status === 200 || answer.status === 413, String(answer.status));
      if (answer.status === 200) {
        files.file('bad.der', Buffer.from(answer.body, 'latin1'));
        assert.match(openssl(['ocsp', '-respin', files.path('bad.der'), '-resp_text', '-noverify']).output, /malformedrequest|Malformed/i);
      }
    }
    // Every truncation of a real request, and one byte too many: malformedRequest, never an error page.
    openssl(['ocsp', '-issuer', files.path('issuer.pem'), '-cert', good, '-reqout', files.path('whole.der')]);
    const whole = files.read('whole.der');
    const malformed = Buffer.of(0x30, 0x03, 0x0a, 0x01, 0x01);
    for (const body of [...Array.from({ length: whole.length - 1 }, (_, n) => whole.subarray(0, n + 1)), Buffer.concat([whole, Buffer.of(0)])]) {
      const answer = await postBytes(`${system.httpUrl}/ocsp`, body);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, malformed, `${body.length} of ${whole.length} bytes`);
      assert.equal(answer.headers['cache-control'], 'no-store');
    }
    assert.deepEqual((await getBytes(`${system.httpUrl}/ocsp/${encodeURIComponent(whole.subarray(0, 20).toString('base64'))}`)).body, malformed);
    // Any single byte changed: an answer (unknown certificate, foreign issuer) or a refusal, never an internal error.
    for (let at = 0; at < whole.length; at++) {
      const flipped = Buffer.from(whole);
      flipped[at]! ^= 0x41;
      const answer = await pki.ocsp.respond(flipped);
      assert.ok(['successful', 'malformedRequest', 'unauthorized'].includes(answer.status), `byte ${at}: ${answer.status}`);
    }
    const foreign = files.path('foreign');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${foreign}.key`, '-out', `${foreign}.pem`, '-subj', '/CN=Foreign CA', '-days', '2']);
    const unauthorized = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', `${foreign}.pem`, '-serial', '0x01']);
    assert.match(unauthorized.output, /unauthorized/i);
  });

  it('publishes each CA’s CRL with validators, new at once after a revocation, and OpenSSL uses it', async () => {
    const first = await getBytes(`${system.httpUrl}/crl/person-pnr-loa3.crl`);
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'application/pkix-crl');
    assert.match(String(first.headers['cache-control']), /^public, max-age=\d+$/);
    assert.ok(first.headers['last-modified']);
    const etag = String(first.headers['etag']);
    assert.equal((await getBytes(`${system.httpUrl}/crl/person-pnr-loa3.crl`, { 'if-none-match': etag })).status, 304);
    files.file('crl.pem', openssl(['crl', '-inform', 'DER'], first.body.toString('latin1')).output);
    const crlFile = files.file('crl.der', first.body);
    const crlPem = files.file('crl.pem', openssl(['crl', '-inform', 'DER', '-in', crlFile]).output);
    const verify = (cert: string) => openssl(['verify', '-crl_check', '-CAfile', files.path('root.pem'), '-untrusted', files.path('issuer.pem'), '-CRLfile', crlPem, cert]);
    assert.match(verify(good).output, /good\.pem: OK/);
    assert.match(verify(revoked).output, /certificate revoked/);

    const serial = openssl(['x509', '-in', good, '-noout', '-serial']).output.trim().split('=')[1]!;
    await pki.revoke({ serial, reason: 'affiliationChanged', actor: 'test' });
    const second = await getBytes(`${system.httpUrl}/crl/person-pnr-loa3.crl`, { 'if-none-match': etag });
    assert.equal(second.status, 200);
    assert.notEqual(second.headers['etag'], etag);
    assert.match(openssl(['crl', '-inform', 'DER', '-in', files.file('crl2.der', second.body), '-noout', '-text']).output, new RegExp(`Serial Number: ${serial}[\\s\\S]*Affiliation Changed`));
    assert.match((await ocsp(good)).output, /good\.pem: revoked/, 'OCSP sees the revocation at once');
  });

  it('carries a recorded invalidity date in the answer (singleExtensions), and none when none was recorded', async () => {
    const name = 'outage';
    const issued = await pki.issueFromCsr('person-auth-pnr-loa3', opensslCsr(files, name, { subject: `/CN=${name}/GN=${name}/SN=Test/serialNumber=198112289874` }));
    const cert = files.file(`${name}.pem`, issued.certificatePem);
    // Reported on paper during an outage, 2 h 30 min before it is registered; the fraction of a second is not kept.
    const reported = new Date(Date.now() - 9_000_000 - 123);
    await pki.revoke({ serial: issued.serial, reason: 'keyCompromise', invalidityDate: reported, actor: 'test' });
    const answer = await ocsp(cert, ['-resp_text']);
    assert.match(answer.output, /outage\.pem: revoked/);
    assert.match(answer.output, /Response verify OK/);
    const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+)/.exec(reported.toUTCString())!;
    assert.match(answer.output, new RegExp(`Invalidity Date:\\s+${month} +${Number(day)} ${time} ${year} GMT`), answer.output);
    // The same in the cached, nonce-less answer (RFC 5019 GET).
    openssl(['ocsp', '-issuer', files.path('issuer.pem'), '-cert', cert, '-no_nonce', '-reqout', files.path('outage-req.der')]);
    files.file('outage-resp.der', (await getBytes(`${system.httpUrl}/ocsp/${encodeURIComponent(files.read('outage-req.der').toString('base64'))}`)).body);
    const fromGet = openssl(['ocsp', '-respin', files.path('outage-resp.der'), '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', cert, '-no_nonce', '-resp_text']);
    assert.match(fromGet.output, /Response verify OK/);
    assert.match(fromGet.output, /Invalidity Date:/);
    // A revocation without one, and a good certificate: no single extensions at all.
    assert.doesNotMatch((await ocsp(revoked, ['-resp_text'])).output, /Invalidity Date/);
    const goodAnswer = await ocsp(good, ['-resp_text']);
    assert.doesNotMatch(goodAnswer.output, /Invalidity Date/);
  });

  it('issues a card certificate already on hold: OCSP never says good before the hold is released', async () => {
    const csr = opensslCsr(files, 'held', { subject: '/CN=held/serialNumber=199001012385' });
    const issued = await pki.issueOnHold('person-auth-pnr-loa3', csr, { commonName: 'Held Card', givenName: 'Held', surname: 'Card', serialNumber: '199001012385' }, 'portal:test');
    const cert = files.file('held.pem', issued.certificatePem);
    const held = await ocsp(cert, ['-resp_text']);
    assert.match(held.output, /held\.pem: revoked/);
    assert.match(held.output, /Reason: certificateHold/);
    assert.doesNotMatch(held.output, /Invalidity Date/, 'a hold for issuance claims no invalidity');
    const [event] = await system.db.query<{ actor: string; details: { reason: string } }>(`select actor, details from pki_events where serial = $1 and action = 'revoked'`, [issued.serial]);
    assert.deepEqual({ actor: event?.actor, reason: event?.details.reason }, { actor: 'portal:test', reason: 'certificateHold' }, 'the hold is recorded like any revocation');
    await pki.releaseIssuanceHold(issued.serial, 'portal:test');
    assert.match((await ocsp(cert)).output, /held\.pem: good/);
  });

  it('serves CA certificates for AIA and 404 for anything else', async () => {
    const ca = await getBytes(`${system.httpUrl}/ca/person-pnr-loa3.crt`);
    assert.equal(ca.status, 200);
    assert.equal(ca.headers['content-type'], 'application/pkix-cert');
    assert.equal(ca.headers['cache-control'], 'public, max-age=86400');
    assert.match(openssl(['x509', '-inform', 'DER', '-in', files.file('ca.der', ca.body), '-noout', '-subject']).output, /Tillit Person Personnummer CA LoA3/);
    for (const path of ['/ca/nope.crt', '/crl/nope.crl', '/crl/root.pem', '/ca/../../etc/passwd']) assert.equal((await getBytes(`${system.httpUrl}${path}`)).status, 404, path);
  });
});
