import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from 'ldapts';
import pino from 'pino';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp.ts';
import { databaseTargets } from '../../test/support/stores.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { generateRegion } from '../directory/index.ts';
import { regionToLdif } from '../directory/ldap/ldif.ts';
import { slapdInstalled, startSlapd, type Slapd } from '../directory/ldap/slapd.ts';
import { runJob, type Job, type RunResult } from '../jobs/index.ts';
import { listOutbox, mailSenderJob, setRecipientLocale } from '../mail/index.ts';
import { openPki, type Pki } from '../pki/index.ts';
import type { Database } from '../store/index.ts';
import { dueStep, expiryRemindersJob } from './expiry-reminders.ts';
import { directorySyncJob, eidsWithoutHolder, type EidWithoutHolder } from './missing-holders.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const installed = await slapdInstalled();

describe('reminder steps', () => {
  it('sends the smallest step reached, once, and never a larger step after a smaller one', () => {
    const steps = [60, 30, 7];
    assert.equal(dueStep(61, steps, []), undefined);
    assert.equal(dueStep(60, steps, []), 60);
    assert.equal(dueStep(45, steps, [60]), undefined);
    assert.equal(dueStep(25, steps, []), 30, 'first seen at 25 days: the 30-day reminder only');
    assert.equal(dueStep(25, steps, [60]), 30);
    assert.equal(dueStep(25, steps, [30]), undefined);
    assert.equal(dueStep(3, steps, [60, 30]), 7);
    assert.equal(dueStep(3, steps, [7]), undefined);
  });
});

for (const target of databaseTargets()) {
  describe(`housekeeping jobs on ${target.name}`, { skip: installed ? false : 'slapd is not installed' }, () => {
    const region = generateRegion({ persons: 12, seed: 'housekeeping-test' });
    const withMail = region.employees.filter((e) => e.mail && region.employees.filter((o) => o.personnummer === e.personnummer).length === 1);
    let slapd: Slapd;
    let db: Database;
    let pki: Pki;
    let config: Config;
    let clock = new Date();
    const now = () => clock;
    const run = (job: Job, dryRun = false): Promise<RunResult> => runJob({ db, log, now, node: 'test', leaseMs: 60_000 }, job, { trigger: 'manual', dryRun });
    const summaryOf = (result: RunResult) => {
      assert.equal(result.status, 'succeeded', JSON.stringify(result));
      return (result as Extract<RunResult, { status: 'succeeded' }>).summary;
    };
    const person = (e: (typeof region.employees)[number]) => ({ commonName: `${e.person.givenName} ${e.person.surname}`, givenName: e.person.givenName, surname: e.person.surname });
    let sink: SmtpSink;
    let register: Server;
    // The population register's HTTP service knows everyone but `unregistered`.
    const unregisteredPnr = withMail[2]!.personnummer;

    before(async () => {
      slapd = await startSlapd({ ldif: regionToLdif(region, { modifyTimestamp: '20260101000000Z' }) });
      db = await target.open();
      sink = await startSmtpSink();
      register = createServer((request, response) => {
        const pnr = decodeURIComponent(request.url!.replace(/^\/persons\//, ''));
        const record = region.register.find((r) => r.personnummer === pnr && pnr !== unregisteredPnr);
        response.writeHead(record ? 200 : 404, { 'content-type': 'application/json' }).end(record ? JSON.stringify(record) : '{}');
      });
      await new Promise<void>((resolve) => register.listen(0, '127.0.0.1', resolve));
      config = loadConfig({
        overrides: {
          dataDir: 'memory://',
          pki: { keyPassphrase: 'housekeeping test passphrase' },
          directory: {
            ldap: { url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword, baseDn: slapd.baseDn },
            register: { url: `http://127.0.0.1:${(register.address() as AddressInfo).port}` },
          },
          mail: { smtp: { host: '127.0.0.1', port: sink.port, security: 'none', from: 'eid@region.example' } },
          server: { publicBaseUrl: 'https://eid.region.example' },
        },
      });
      pki = await openPki({ config, db, log, now: () => new Date() });
    });
    after(async () => {
      await sink?.close();
      await new Promise((resolve) => register?.close(resolve));
      await db?.close();
      await slapd?.stop();
    });

    it('directory-sync syncs the catalogue, then lists exactly the eIDs in force whose holder is missing; revokes nothing', async () => {
      const first = summaryOf(await run(directorySyncJob(config)));
      assert.equal((first['catalogue'] as { counts: { persons: { added: number } } }).counts.persons.added, 12);
      assert.equal((first['register'] as { checked: number; markedMissing: number }).checked, 12);
      assert.equal((first['register'] as { markedMissing: number }).markedMissing, 1, 'the register does not know `unregistered`');
      const [stays, leaves, unregistered, revokedOne] = withMail;
      assert.ok(revokedOne, 'the region has four single-identity persons with mail');
      const issued = {
        staysMobile: await pki.issueWithNewKey('mobile', { ...person(stays!), serialNumber: stays!.personnummer }),
        staysCard: await pki.issueWithNewKey('person-auth-hsa-loa3', { ...person(stays!), serialNumber: stays!.hsaId }),
        leavesCard: await pki.issueWithNewKey('person-auth-hsa-loa3', { ...person(leaves!), serialNumber: leaves!.hsaId }),
        leavesMobile: await pki.issueWithNewKey('mobile', { ...person(leaves!), serialNumber: leaves!.personnummer }),
        unregisteredMobile: await pki.issueWithNewKey('mobile', { ...person(unregistered!), serialNumber: unregistered!.personnummer }),
        revoked: await pki.issueWithNewKey('person-auth-hsa-loa3', { ...person(revokedOne!), serialNumber: revokedOne!.hsaId }),
        stranger: await pki.issueWithNewKey('mobile', { commonName: 'Ny Person', givenName: 'Ny', surname: 'Person', serialNumber: '198112189876' }),
        server: await pki.issueWithNewKey('function-server', { commonName: 'journal.region.example', serialNumber: leaves!.organisationHsaId.replace(/-.*$/, "-F99"), dnsNames: ['journal.region.example'] }),
      };
      await pki.revoke({ serial: issued.revoked.serial, reason: 'keyCompromise', actor: 'test' });
      // `leaves` leaves the catalogue (their commissions, then their entry).
      const admin = new Client({ url: slapd.url });
      await admin.bind(slapd.rootDn, slapd.rootPassword);
      const commissions = await admin.search(slapd.baseDn, { filter: `(&(objectClass=hsaCommission)(hsaCommissionMember=${leaves!.hsaId}))` });
      for (const entry of commissions.searchEntries) await admin.del(entry.dn);
      const [entry] = (await admin.search(slapd.baseDn, { filter: `(hsaIdentity=${leaves!.hsaId})` })).searchEntries;
      await admin.del(entry!.dn);
      await admin.unbind();

      const dry = summaryOf(await run(directorySyncJob(config), true));
      assert.equal((dry['catalogue'] as { counts: { serviceIdentities: { ended: number } } }).counts.serviceIdentities.ended, 1, 'a dry run reports what it would end');
      const dryListed = (dry['eidsWithoutHolder'] as EidWithoutHolder[]).map((e) => e.serial);
      assert.ok(!dryListed.includes(issued.leavesCard.serial), 'and changes nothing: the list is of the directory as it stands');
      clock = new Date(clock.getTime() + 60_000);
      const summary = summaryOf(await run(directorySyncJob(config)));
      const listed = new Map((summary['eidsWithoutHolder'] as EidWithoutHolder[]).map((e) => [e.serial, e]));
      assert.deepEqual([...listed.keys()].sort(), [issued.leavesCard.serial, issued.leavesMobile.serial, issued.unregisteredMobile.serial, issued.stranger.serial].sort());
      assert.equal(summary['eidsWithoutHolderCount'], 4);
      assert.deepEqual(listed.get(issued.leavesCard.serial)!.reasons, ['service identity ended', 'missing from the catalogue']);
      assert.deepEqual(listed.get(issued.leavesMobile.serial)!.reasons, ['missing from the catalogue']);
      assert.deepEqual(listed.get(issued.unregisteredMobile.serial)!.reasons, ['missing from the register']);
      assert.deepEqual(listed.get(issued.stranger.serial)!.reasons, ['not in the directory']);
      assert.ok(listed.get(issued.leavesCard.serial)!.since);
      for (const serial of listed.keys()) assert.equal((await pki.status(serial))!.status, 'good', 'nothing is revoked by the job');
      const paged = await eidsWithoutHolder(db, clock, 2);
      assert.deepEqual(paged.map((e) => e.serial), [...listed.keys()], 'read two certificates at a time, the same list');
    });

    it('a catalogue that cannot be read fails the run with the reason (no list built on stale data)', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const unreachable = { ...config, directory: { ...config.directory, ldap: { ...config.directory.ldap, url: `ldap://127.0.0.1:${port}`, connectTimeoutMs: 2_000 } } };
      const result = await run(directorySyncJob(unreachable));
      assert.equal(result.status, 'failed');
      assert.match((result as Extract<RunResult, { status: 'failed' }>).error, /127\.0\.0\.1/);
    });

    it('certificate-expiry-reminders e-mails each holder at 60, 30 and 7 days, once per step, in their language, with what to do', async () => {
      const [holder, english] = withMail.slice(4);
      assert.ok(english, 'two more persons with mail');
      await setRecipientLocale(db, english!.mail!, 'en', clock);
      const mobile = await pki.issueWithNewKey('mobile', { ...person(holder!), serialNumber: holder!.personnummer });
      const auth = await pki.issueWithNewKey('person-auth-pnr-loa3', { ...person(english!), serialNumber: english!.personnummer });
      const sign = await pki.issueWithNewKey('person-sign-pnr-loa3', { ...person(english!), serialNumber: english!.personnummer });
      const remind = expiryRemindersJob(config);
      const send = mailSenderJob(config.mail);
      const reminded = async (at: Date) => {
        clock = at;
        const summary = summaryOf(await run(remind));
        summaryOf(await run(send));
        return summary;
      };
      const mobileExpiry = mobile.certificate.notAfter.getTime();
      const cardExpiry = auth.certificate.notAfter.getTime();
      const received = () => sink.received.filter((m) => [holder!.mail, english!.mail].includes(m.to && !Array.isArray(m.to) ? m.to.value[0]!.address! : ''));

      await reminded(new Date(mobileExpiry - 61 * DAY));
      assert.equal(received().length, 0, 'nothing before the first step');

      const dry = summaryOf(await run(remind, true));
      assert.equal(dry['queued'], 0);
      assert.equal((await listOutbox(db, { status: 'pending' })).length, 0, 'a dry run queues nothing');

      await reminded(new Date(mobileExpiry - 60 * DAY + 3_600_000));
      const [first] = received();
      assert.ok(first, 'the 60-day reminder');
      assert.equal(first.subject, 'Ditt mobila eID slutar gälla om 60 dagar');
      assert.match(first.text!, new RegExp(`slutar gälla den ${new Date(mobileExpiry).toISOString().slice(0, 10)}`));
      assert.match(first.text!, /Mina sidor i eID-portalen \(https:\/\/eid\.region\.example\)/);
      assert.match(first.text!, new RegExp(mobile.serial));

      await reminded(new Date(mobileExpiry - 45 * DAY));
      assert.equal(received().length, 1, 'the same step is not sent twice');

      await reminded(new Date(mobileExpiry - 29 * DAY));
      await reminded(new Date(mobileExpiry - 20 * DAY));
      await reminded(new Date(mobileExpiry - 6 * DAY));
      const toHolder = received().filter((m) => (m.to as { value: { address: string }[] }).value[0]!.address === holder!.mail);
      assert.deepEqual(toHolder.map((m) => m.subject), ['Ditt mobila eID slutar gälla om 60 dagar', 'Ditt mobila eID slutar gälla om 29 dagar', 'Ditt mobila eID slutar gälla om 6 dagar']);

      // The card's pair expires together: one message, in English, naming both certificates and the ID administrator.
      const toEnglish = received().filter((m) => (m.to as { value: { address: string }[] }).value[0]!.address === english!.mail);
      assert.ok(cardExpiry - mobileExpiry > 0, 'card certificates outlive mobile ones');
      await reminded(new Date(cardExpiry - 7 * DAY + 3_600_000));
      const card = received().filter((m) => (m.to as { value: { address: string }[] }).value[0]!.address === english!.mail).slice(toEnglish.length);
      assert.equal(card.length, 1);
      assert.equal(card[0]!.subject, 'The certificates on your eID card expire in 7 days');
      assert.match(card[0]!.text!, /Contact your ID administrator/);
      assert.ok(card[0]!.text!.includes(auth.serial) && card[0]!.text!.includes(sign.serial));
      const rows = await db.query<{ serial: string; step_days: number }>('select serial, step_days from certificate_expiry_reminder where serial = any($1) order by serial, step_days', [[auth.serial, sign.serial]]);
      assert.deepEqual(rows.map((r) => r.step_days), [7, 7]);
    });
  });
}
