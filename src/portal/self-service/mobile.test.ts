import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { enrollMobileEid, openKeyStore } from '../../app/index.ts';
import { createEnrolmentService, MAX_ACTIVE_MOBILE_EIDS } from '../../authn/index.ts';
import { loadConfig } from '../../config/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { readAudit, verifyAudit, type AuditEntry } from '../audit.ts';
import { PortalRefused } from '../errors.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { myMobileEids, reportMyMobileEidLost, startMyEnrolment, type MobileSelfServiceContext } from './mobile.ts';

const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};

async function auditEntries(db: Database): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for await (const entry of readAudit(db)) entries.push(entry);
  return entries;
}

for (const target of databaseTargets()) {
  describe(`self-service: my mobile eIDs, enrolment code, report lost (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let context: MobileSelfServiceContext;
    let appDir: string;
    const clock = new Date();
    let me: { hsaId: string; personnummer: string };
    let someoneElse: { hsaId: string; personnummer: string };
    let theirSerial: string;

    /** The eID app (src/app) enrols with a code the portal gave: a new key under a PIN, its CSR redeemed, the certificate kept. */
    const appEnrols = async (code: string, folder: string) => {
      const keys = await openKeyStore(join(appDir, folder));
      const enrolment = context.enrolment!;
      const enrolled = await enrollMobileEid(keys, '246810', async (csr) => enrolment.redeem(code, csr, `phone ${folder}`));
      return { keys, serial: new X509Certificate(enrolled.certificatePem).serialNumber.toLowerCase() };
    };

    before(async () => {
      db = await target.open();
      appDir = await mkdtemp(join(tmpdir(), 'tillit-mine-mobile-'));
      const region = await seedTestRegion(db, clock);
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      context = { db, pki, now: () => clock, enrolment: createEnrolmentService({ db, pki, now: () => clock }) };
      const staff = employeesOf(region, region.organisations[0]!.hsaId);
      [me, someoneElse] = [staff[0]!, staff.find((e) => e.personnummer !== staff[0]!.personnummer)!];
      theirSerial = (await appEnrols((await startMyEnrolment(context, someoneElse.hsaId)).code, 'theirs')).serial;
    });
    after(async () => {
      await db.close();
      await rm(appDir, { recursive: true, force: true });
    });

    it('gives a code the eID app enrols with; the new mobile eID is listed as mine and active, nobody else\'s', async () => {
      assert.deepEqual(await myMobileEids(context, me.hsaId), []);
      const code = await startMyEnrolment(context, me.hsaId);
      assert.match(code.code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
      assert.equal(code.qr, `tillit-enrol.${code.code.replaceAll('-', '')}`);
      const { keys, serial } = await appEnrols(code.qr, 'first');
      assert.equal(keys.list().length, 1);
      const mine = await myMobileEids(context, me.hsaId);
      assert.deepEqual(mine.map((e) => [e.serial.toLowerCase(), e.status, e.deviceLabel]), [[serial, 'active', 'phone first']]);
      const audit = (await auditEntries(db)).filter((e) => e.action === 'self-service.mobile-eid-enrolment-code' && e.actor === me.hsaId);
      assert.equal(audit.length, 1);
      assert.ok(!JSON.stringify(audit).includes(code.code.replaceAll('-', '')), 'the audit trail never holds the code');
      await assert.rejects(myMobileEids(context, 'SE0000000000-NOBODY'), refused('forbidden', /not a current service identity/));
    });

    it(`refuses an enrolment beyond ${MAX_ACTIVE_MOBILE_EIDS} active mobile eIDs with the reason; no code is made, nothing issued`, async () => {
      for (const folder of ['second', 'third']) await appEnrols((await startMyEnrolment(context, me.hsaId)).code, folder);
      assert.equal((await myMobileEids(context, me.hsaId)).filter((e) => e.status === 'active').length, MAX_ACTIVE_MOBILE_EIDS);
      const [codesBefore] = await db.query<{ n: number }>('select count(*)::int as n from authn_enrolment_codes');
      await assert.rejects(startMyEnrolment(context, me.hsaId), refused('conflict', /already have 3 active mobile eIDs, the most allowed \(3\)/));
      const [codesAfter] = await db.query<{ n: number }>('select count(*)::int as n from authn_enrolment_codes');
      assert.equal(codesAfter!.n, codesBefore!.n);
      assert.equal((await myMobileEids(context, me.hsaId)).length, MAX_ACTIVE_MOBILE_EIDS);
    });

    it('reports my mobile eID lost: revoked at once in the PKI, recorded as a revocation request, audited; another\'s is not found and untouched', async () => {
      await assert.rejects(reportMyMobileEidLost(context, me.hsaId, theirSerial), refused('not-found', /you have no mobile eID/));
      assert.equal((await pki.status(theirSerial))?.status, 'good');
      const [lost] = await myMobileEids(context, me.hsaId);
      const reported = await reportMyMobileEidLost(context, me.hsaId, lost!.serial);
      const status = await pki.status(lost!.serial);
      assert.equal(status?.status, 'revoked');
      assert.equal(status?.reason, 'keyCompromise');
      const [request] = await db.query<{ card_id: number | null; channel: string; reason: string; reported_by: string; serials: string[]; personnummer: string }>(
        'select card_id, channel, reason, reported_by, serials, personnummer from portal_revocation where id = $1',
        [reported.revocationId],
      );
      assert.deepEqual(request, { card_id: null, channel: 'self-service', reason: 'lost', reported_by: me.hsaId, serials: [lost!.serial], personnummer: me.personnummer });
      const entry = (await auditEntries(db)).find((e) => e.action === 'self-service.report-mobile-eid-lost' && e.target === `mobile-eid:${lost!.serial}`);
      assert.equal(entry?.actor, me.hsaId);
      assert.equal((await myMobileEids(context, me.hsaId)).find((e) => e.serial === lost!.serial)?.status, 'revoked');
      await assert.rejects(reportMyMobileEidLost(context, me.hsaId, lost!.serial), refused('conflict', /is revoked/));
      // One of three revoked: a new enrolment is allowed again.
      await appEnrols((await startMyEnrolment(context, me.hsaId)).code, 'fourth');
      assert.equal((await verifyAudit(db)).ok, true);
    });
  });
}
