import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { addCaller, addCertificateCaller, authenticateCaller, authnFrom, CallerError, createAuthnPart } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { createPkiPart, pkiFrom, type Pki } from '../src/pki/index.ts';
import { scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One JSON POST with curl (not our HTTP code), trusting only the installation's root, with a client certificate or none. */
function curlPost(url: string, body: unknown, options: { cacert: string; cert?: string; key?: string; basic?: string }): Promise<Answer> {
  const args = ['-s', '--cacert', options.cacert, '-H', 'content-type: application/json', '--data-binary', JSON.stringify(body), '-w', '\n%{http_code}'];
  if (options.cert) args.push('--cert', options.cert);
  if (options.key) args.push('--key', options.key);
  if (options.basic) args.push('-u', options.basic);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8' }, (error, stdout) => {
      if (error) return reject(error);
      const cut = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut) || '{}') as Record<string, unknown> });
    });
  });
}

describe('the order API for callers with a function client certificate (mutual TLS), checked with curl', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let pki: Pki;
  let files: ReturnType<typeof scratch>;
  let url: string;
  let cacert: string;

  const functionCertificate = async (name: string, commonName: string) => {
    const issued = await pki.issueWithNewKey('function-client', { commonName, serialNumber: 'SE2321000016-F001', organization: 'Region Demo' });
    return { serial: issued.serial, subject: issued.certificate.subject, cert: files.file(`${name}.pem`, issued.certificatePem), key: files.file(`${name}.key`, issued.privateKeyPem) };
  };

  before(async () => {
    system = await startTestSystem({}, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
    const started = new Map(system.parts.map((p) => [p.name, p]));
    pki = pkiFrom(started);
    const port = authnFrom(started).callerMtlsPort;
    assert.ok(port, 'the caller listener runs by default');
    url = `https://127.0.0.1:${port}/authn/v1`;
    files = scratch();
    cacert = files.file('root.pem', system.tls.ca);
  });
  after(async () => {
    await system?.stop();
    files?.done();
  });

  it('starts, collects and cancels orders for the caller registered by its certificate subject', async () => {
    const idp = await functionCertificate('idp', 'Region IdP');
    await addCertificateCaller(system.db, 'idp.mtls', 'Regionens IdP', idp.subject);
    const started = await curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert, cert: idp.cert, key: idp.key });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.match(String(started.body['orderRef']), /^[0-9a-f-]{36}$/);
    assert.ok(started.body['qrStartSecret']);
    const collected = await curlPost(`${url}/collect`, { orderRef: started.body['orderRef'] }, { cacert, cert: idp.cert, key: idp.key });
    assert.deepEqual([collected.status, collected.body['status']], [200, 'pending']);
    assert.equal((await curlPost(`${url}/cancel`, { orderRef: started.body['orderRef'] }, { cacert, cert: idp.cert, key: idp.key })).status, 200);
  });

  it('refuses no certificate, a person’s card, an unregistered subject, a secret, and a revoked certificate, each with the reason', async () => {
    const registered = await functionCertificate('registered', 'Region IdP 2');
    await addCertificateCaller(system.db, 'idp.mtls2', 'Andra IdP:n', registered.subject);
    const { secret } = await addCaller(system.db, 'idp.secret', 'Hemlig');
    const card = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: 'Anna Andersson', givenName: 'Anna', surname: 'Andersson', serialNumber: 'SE2321000016-1A2B' });
    const stranger = await functionCertificate('stranger', 'Someone Else');
    const refusals: [string, Promise<Answer>, RegExp][] = [
      ['no certificate', curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert }), /no client certificate was sent/],
      ['a person card', curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert, cert: files.file('card.pem', card.certificatePem), key: files.file('card.key', card.privateKeyPem) }), /not issued by a CA we trust/],
      ['an unregistered subject', curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert, cert: stranger.cert, key: stranger.key }), /no caller is registered for the certificate subject/],
      ['a secret instead of a certificate', curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert, basic: `idp.secret:${secret}` }), /no client certificate was sent/],
    ];
    for (const [what, answer, reason] of refusals) {
      const { status, body } = await answer;
      assert.equal(status, 401, what);
      assert.equal(body['errorCode'], 'unauthorized', what);
      assert.match(String(body['details']), reason, what);
    }
    await pki.revoke({ serial: registered.serial, reason: 'keyCompromise', actor: 'test' });
    const revoked = await curlPost(`${url}/auth`, { endUserIp: '192.0.2.10' }, { cacert, cert: registered.cert, key: registered.key });
    assert.equal(revoked.status, 401);
    assert.match(String(revoked.body['details']), /revoked/);
  });

  it('registers a subject once, refuses what is not a distinguished name, and gives a certificate caller no secret to log in with', async () => {
    const one = await functionCertificate('one', 'Region IdP 3');
    await addCertificateCaller(system.db, 'idp.once', 'En gång', one.subject);
    assert.equal(await authenticateCaller(system.db, 'idp.once', ''), undefined);
    await assert.rejects(addCertificateCaller(system.db, 'idp.twice', 'Två gånger', one.subject), (error: Error) => error instanceof CallerError && /already registered/.test(error.message));
    await assert.rejects(addCertificateCaller(system.db, 'idp.garbage', 'Skräp', 'not a name'), (error: Error) => error instanceof CallerError && /not a distinguished name/.test(error.message));
    const [row] = await system.db.query<{ n: number }>("select count(*)::int as n from authn_callers where id in ('idp.twice', 'idp.garbage')");
    assert.equal(row!.n, 0, 'nothing stored for a refused registration');
  });
});
