import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { approveOrder, openKeyStore, type KeyStore } from '../src/app/index.ts';
import { addCaller, createAuthnPart, qrContent } from '../src/authn/index.ts';
import { createDirectoryPart, listOrganisationPersons, PUBLIC_VIEWER } from '../src/directory/index.ts';
import { createPkiPart, pkiFrom, type Pki } from '../src/pki/index.ts';
import { call } from './support/http.ts';
import { startTestSystem } from './support/system.ts';

/** The real chain: a mobile eID issued by this PKI, checked by the authentication part against the PKI and the directory. */
describe('login with a mobile eID issued by the PKI', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let pki: Pki;
  let keys: KeyStore;
  let home: string;
  let authorization: string;
  let personnummer: string;
  let serial: string;
  const PIN = '135790';

  before(async () => {
    system = await startTestSystem({ demo: { seed: true } }, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
    const started = new Map(system.parts.map((p) => [p.name, p]));
    pki = pkiFrom(started);
    home = await mkdtemp(join(tmpdir(), 'tillit-eid-login-'));
    keys = await openKeyStore(home);
    const db = system.db;
    const [person] = await listOrganisationPersons(db, 'SE2321000008-0001', PUBLIC_VIEWER, 1);
    personnummer = person!.personnummer;
    const issued = await pki.issueWithNewKey('mobile', { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: personnummer });
    serial = issued.serial;
    const privateKey = createPrivateKey(issued.privateKeyPem);
    await keys.importKey('mobile', 'Mobilt eID', PIN, privateKey, issued.certificatePem, issued.chainPem);
    const { secret } = await addCaller(db, 'idp.e2e', 'E2E-tjänsten');
    authorization = `Basic ${Buffer.from(`idp.e2e:${secret}`).toString('base64')}`;
  });
  after(async () => {
    await system.stop();
    await rm(home, { recursive: true, force: true });
  });

  const rp = async (path: string, body: unknown) => {
    const answer = await call(`${system.httpsUrl}${path}`, { method: 'POST', ca: system.tls.ca, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return JSON.parse(answer.body);
  };
  const server = () => ({ baseUrl: system.httpsUrl, ca: system.tls.ca });

  it('completes with the person from the directory, LoA 3 and revocation evidence', async () => {
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { minimumLoa: 3 } });
    await approveOrder(server(), keys, { qr: qrContent(started.qrStartToken, started.qrStartSecret, 0) }, { pin: PIN });
    const collected = await rp('/authn/v1/collect', { orderRef: started.orderRef });
    assert.equal(collected.status, 'complete', JSON.stringify(collected));
    assert.equal(collected.completionData.user.personalIdentityNumber, personnummer);
    assert.equal(collected.completionData.loa, 3);
    assert.equal(collected.completionData.revocationEvidence.status, 'good');
  });

  it('refuses another person’s order (requirement) with certificateErr', async () => {
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { personalIdentityNumber: '191212121212' } });
    await approveOrder(server(), keys, { autoStartToken: started.autoStartToken }, { pin: PIN });
    const collected = await rp('/authn/v1/collect', { orderRef: started.orderRef });
    assert.equal(collected.status, 'failed');
    assert.equal(collected.hintCode, 'certificateErr');
  });

  it('refuses the eID once it is revoked', async () => {
    await pki.revoke({ serial, reason: 'keyCompromise', actor: 'test' });
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' });
    await approveOrder(server(), keys, { autoStartToken: started.autoStartToken }, { pin: PIN });
    const collected = await rp('/authn/v1/collect', { orderRef: started.orderRef });
    assert.deepEqual([collected.status, collected.hintCode, collected.reason], ['failed', 'certificateErr', 'the certificate is revoked (keyCompromise)']);
  });
});
