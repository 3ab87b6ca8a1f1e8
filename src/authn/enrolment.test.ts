import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { certificateRequest, enrollMobileEid, openKeyStore } from '../app/index.ts';
import { loadConfig } from '../config/index.ts';
import { createDirectoryPart, findPerson, listOrganisationPersons, PUBLIC_VIEWER, type PersonSummary } from '../directory/index.ts';
import { openPki, type Pki } from '../pki/index.ts';
import { createMemoryStore, type Database } from '../store/index.ts';
import { createEnrolmentService, EnrolmentError, normaliseCode, type EnrolmentService } from './enrolment.ts';
import { MOBILE_EID_REPORT_VIEW } from './index.ts';

const PIN = '482913';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EnrolmentError, String(error));
    return error.code;
  }
  return 'no error';
}

for (const target of databaseTargets()) {
  describe(`mobile eID enrolment (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let enrolment: EnrolmentService;
    let persons: PersonSummary[];
    let clock = Date.now();
    const files = scratch();
    let homes: string;

    before(async () => {
      db = await target.open();
      const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://', directory: { demo: { persons: 40 } } } });
      const context = { config, db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => new Date(clock) };
      pki = await openPki(context);
      await (await createDirectoryPart(context, new Map())).seedDemo!();
      persons = await listOrganisationPersons(db, 'SE2321000008-0001', PUBLIC_VIEWER, 10);
      enrolment = createEnrolmentService({ db, pki, now: () => new Date(clock) });
      files.file('mobile-chain.pem', pki.chainOf('mobile').join('\n'));
      homes = await mkdtemp(join(tmpdir(), 'tillit-enrol-'));
    });
    after(async () => {
      files.done();
      await rm(homes, { recursive: true, force: true });
      await db.close();
    });

    const appAt = (name: string) => openKeyStore(join(homes, name));

    it('enrols the app’s key with a one-time code: a mobile-CA certificate naming the person, which OpenSSL verifies', async () => {
      const person = persons[0]!;
      const code = await enrolment.createCode(person.personnummer, 'operator-1');
      assert.match(code.code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
      assert.equal(code.qr, `tillit-enrol.${code.code.replaceAll('-', '')}`);
      assert.equal(code.expiresAt.getTime() - clock, 15 * 60_000);
      const keys = await appAt('first');
      const { certificatePem } = await enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(code.qr, csr, 'test phone'));
      const leaf = files.file('first.pem', certificatePem);
      const verified = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', files.path('mobile-chain.pem'), leaf]);
      assert.ok(verified.ok, verified.output);
      const text = openssl(['x509', '-in', leaf, '-noout', '-subject', '-text']).output;
      assert.match(text, new RegExp(`serialNumber ?= ?${person.personnummer}`));
      assert.match(text, new RegExp(`GN ?= ?${person.givenName}|givenName ?= ?${person.givenName}`));
      assert.doesNotMatch(text, /Tillit eID app/, 'the server names the person, not the CSR');
      assert.equal(keys.list()[0]!.certificatePem, certificatePem);
      const records = await enrolment.mobileEidsOf(person.personnummer);
      assert.deepEqual(records.map((r) => [r.status, r.deviceLabel]), [['active', 'test phone']]);
    });

    it('refuses a used, an unknown and an expired code, and leaves the app as it was', async () => {
      const person = persons[1]!;
      const used = await enrolment.createCode(person.personnummer, 'operator-1');
      await enrollMobileEid(await appAt('used-1'), PIN, (csr) => enrolment.redeem(used.code, csr));
      const keys = await appAt('used-2');
      const tryWith = (code: string) => enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(code, csr));
      assert.equal(await codeOf(tryWith(used.code)), 'usedCode');
      assert.equal(await codeOf(tryWith('ABCD-EFGH-JKMN-PQRS')), 'unknownCode');
      assert.equal(await codeOf(tryWith('not a code')), 'invalidParameters');
      const late = await enrolment.createCode(person.personnummer, 'operator-1');
      clock += 15 * 60_000;
      try {
        await assert.rejects(tryWith(late.code.toLowerCase()), (e: EnrolmentError) => e.code === 'expiredCode' && /expired at .*ask for a new code/.test(e.message));
      } finally {
        clock -= 15 * 60_000;
      }
      assert.equal(keys.list().length, 0, 'a refused enrolment leaves no key behind');
      assert.equal((await enrolment.mobileEidsOf(person.personnummer)).length, 1);
    });

    it('finds the person by HSA-id, reads codes as typed, and refuses unknown persons', async () => {
      const [person] = await listOrganisationPersons(db, 'SE2321000008-0001', PUBLIC_VIEWER, 1, 2);
      const view = await findPerson(db, person!.personnummer, { mayViewProtectedIdentities: true });
      const code = await enrolment.createCode(view!.serviceIdentities[0]!.hsaId.toLowerCase(), 'operator-1');
      assert.equal(code.personnummer, person!.personnummer);
      assert.equal(normaliseCode(` ${code.code.toLowerCase().replaceAll('-', ' ')} `), code.qr.slice('tillit-enrol.'.length));
      assert.equal(normaliseCode('tillit-enrol.0000-0000-0000-000O'), '0000000000000000', 'O is read as zero');
      assert.equal(await codeOf(enrolment.createCode('191212121212', 'operator-1')), 'unknownPerson');
      assert.equal(await codeOf(enrolment.createCode('191212121213', 'operator-1')), 'invalidParameters');
      assert.equal(await codeOf(enrolment.createCode('SE2321000008-NOBODY', 'operator-1')), 'unknownPerson');
      assert.equal(await codeOf(enrolment.createCode(person!.personnummer, ' ')), 'invalidParameters');
    });

    it('refuses a CSR signed by another key than it carries, and garbage, without using the code', async () => {
      const person = persons[3]!;
      const code = await enrolment.createCode(person.personnummer, 'operator-1');
      const keys = await appAt('csr');
      const a = await keys.createKey('mobile', 'a', PIN);
      const b = await keys.createKey('mobile', 'b', PIN);
      const forged = await certificateRequest(a.publicKey, b.privateKey);
      assert.equal(await codeOf(enrolment.redeem(code.code, forged)), 'csrRefused');
      assert.equal(await codeOf(enrolment.redeem(code.code, 'hello')), 'invalidParameters');
      assert.equal(await codeOf(enrolment.redeem(code.code, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----')), 'csrRefused');
      // A CSR made by OpenSSL, not by our app, works as well, and the code is still good after the refusals.
      const issued = await enrolment.redeem(code.code, opensslCsr(files, 'openssl-app', { subject: '/CN=whatever' }));
      assert.equal(issued.personnummer, person.personnummer);
    });

    it('allows three active mobile eIDs: the fourth is refused and nothing issued; a revoked one frees a place', async () => {
      const person = persons[4]!;
      const keys = await appAt('four');
      const codes: { code: string }[] = [];
      for (let i = 0; i < 5; i++) codes.push(await enrolment.createCode(person.personnummer, 'operator-1'));
      for (let i = 0; i < 3; i++) await enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(codes[i]!.code, csr));
      await assert.rejects(
        enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(codes[3]!.code, csr)),
        (e: EnrolmentError) => e.code === 'tooManyEids' && e.message === 'the person already has 3 active mobile eIDs, the most allowed (3); revoke one before enrolling another',
      );
      assert.equal(await codeOf(enrolment.createCode(person.personnummer, 'operator-1')), 'tooManyEids', 'no new code either');
      assert.equal((await enrolment.mobileEidsOf(person.personnummer)).length, 3);
      assert.equal(keys.list().length, 3);
      const [first] = await enrolment.mobileEidsOf(person.personnummer);
      await pki.revoke({ serial: first!.serial, reason: 'keyCompromise', actor: 'test' });
      await enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(codes[3]!.code, csr));
      const statuses = (await enrolment.mobileEidsOf(person.personnummer)).map((r) => r.status).sort();
      assert.deepEqual(statuses, ['active', 'active', 'active', 'revoked']);

      // The reports' view: each eID placed under each organisation the holder works in (once each), with the PKI's revocation.
      const works = await db.query<{ organisation: string; unit: string | null; hsa_id: string }>(
        `select distinct on (s.organisation_hsa_id) s.organisation_hsa_id as organisation, s.unit_hsa_id as unit, s.hsa_id
           from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
          where p.personnummer = $1 order by s.organisation_hsa_id, s.hsa_id`,
        [person.personnummer],
      );
      assert.ok(works.length > 0);
      const view = await db.query<{ serial: string; organisation_hsa_id: string; unit_hsa_id: string | null; holder_hsa_id: string; revoked_at: Date | null; revocation_reason: string | null }>(
        `select serial, organisation_hsa_id, unit_hsa_id, holder_hsa_id, revoked_at, revocation_reason from ${MOBILE_EID_REPORT_VIEW} where personnummer = $1 order by serial, organisation_hsa_id`,
        [person.personnummer],
      );
      const eids = await enrolment.mobileEidsOf(person.personnummer);
      assert.equal(view.length, eids.length * works.length);
      for (const eid of eids) {
        const rows = view.filter((v) => v.serial === eid.serial);
        assert.deepEqual(rows.map((r) => [r.organisation_hsa_id, r.unit_hsa_id, r.holder_hsa_id]), works.map((w) => [w.organisation, w.unit, w.hsa_id]));
        for (const row of rows) assert.deepEqual([row.revoked_at !== null, row.revocation_reason], eid.status === 'revoked' ? [true, 'keyCompromise'] : [false, null]);
      }
    });

    it('lets only one of two codes redeemed at the same moment take the last place', async () => {
      const person = persons[5]!;
      const keys = await appAt('race');
      for (let i = 0; i < 2; i++) {
        const code = await enrolment.createCode(person.personnummer, 'operator-1');
        await enrollMobileEid(keys, PIN, (csr) => enrolment.redeem(code.code, csr));
      }
      const racing = [await enrolment.createCode(person.personnummer, 'operator-1'), await enrolment.createCode(person.personnummer, 'operator-1')];
      const a = await keys.createKey('mobile', 'a', PIN);
      const b = await keys.createKey('mobile', 'b', PIN);
      const results = await Promise.allSettled([enrolment.redeem(racing[0]!.code, await certificateRequest(a.publicKey, a.privateKey)), enrolment.redeem(racing[1]!.code, await certificateRequest(b.publicKey, b.privateKey))]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      assert.equal((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.code, 'tooManyEids');
      assert.equal((await enrolment.mobileEidsOf(person.personnummer)).filter((r) => r.status === 'active').length, 3);
    });
  });
}
