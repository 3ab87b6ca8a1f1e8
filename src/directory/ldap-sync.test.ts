import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Database } from '../store/index.ts';
import { ldapConfigSchema, type LdapConfig } from './config.ts';
import { generateRegion } from './generate.ts';
import { regionToLdif } from './ldap/ldif.ts';
import { values } from './ldap/mapping.ts';
import { slapdInstalled, startSlapd, type Slapd } from './ldap/slapd.ts';
import { CatalogueUnavailableError, syncCatalogue } from './ldap-sync.ts';
import { factHistory, findPerson, loginAttributes } from './reads.ts';

const ADMIN = { mayViewProtectedIdentities: true };
const installed = await slapdInstalled();
const MISSING = 'slapd is not installed (Debian: apt-get install slapd ldap-utils)';

if (!installed && process.env['CI']) {
  it('has slapd to sync from', () => assert.fail(`${MISSING}; CI must install it`));
}

/** Every directory row, in a stable order: equal dumps mean an unchanged directory (run reports aside). */
async function dump(db: Database): Promise<string> {
  const tables: [string, string][] = [
    ['directory_organisation', 'hsa_id'],
    ['directory_unit', 'hsa_id'],
    ['directory_person', 'personnummer'],
    ['directory_service_identity', 'hsa_id'],
    ['directory_commission', 'hsa_id'],
    ['directory_function_object', 'hsa_id'],
    ['directory_history', 'id'],
  ];
  const parts: unknown[] = [];
  for (const [table, key] of tables) parts.push(await db.query(`select to_jsonb(t) as row from ${table} t order by ${key}`));
  return JSON.stringify(parts);
}

/** A TCP relay to slapd that can cut both sides once the server has sent `cutAfter` bytes. */
async function startRelay(port: number, cutAfter: number): Promise<{ port: number; relayed: () => number; close: () => Promise<void> }> {
  let relayed = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ port, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      relayed += chunk.length;
      if (relayed > cutAfter) {
        client.destroy();
        upstream.destroy();
      } else client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    relayed: () => relayed,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

for (const target of databaseTargets()) {
  describe(`catalogue sync from slapd into ${target.name}`, { skip: installed ? false : MISSING }, () => {
    const region = generateRegion({ persons: 40, seed: 'ldap-sync-test' });
    let slapd: Slapd;
    let db: Database;
    let admin: Client;
    let config: LdapConfig;
    let clock = new Date('2026-06-01T00:00:00Z');
    const now = () => clock;
    const tick = () => (clock = new Date(clock.getTime() + 60_000));
    const dnOfEmployee = async (hsaId: string) => (await admin.search(slapd.baseDn, { filter: `(hsaIdentity=${hsaId})` })).searchEntries[0]!.dn;
    const replace = (type: string, value: string) => new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) });

    before(async () => {
      slapd = await startSlapd({ ldif: regionToLdif(region, { modifyTimestamp: '20260101000000Z' }) });
      db = await target.open();
      admin = new Client({ url: slapd.url });
      await admin.bind(slapd.rootDn, slapd.rootPassword);
      // A small page size, so every search takes several pages.
      config = ldapConfigSchema.parse({ url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword, baseDn: slapd.baseDn, pageSize: 7 });
    });
    after(async () => {
      await admin?.unbind().catch(() => {});
      await db?.close();
      await slapd?.stop();
    });

    it('a first incremental run is a full sync: every page read, the whole region added', async () => {
      const { report } = await syncCatalogue(db, config, { mode: 'incremental', now });
      assert.equal(report.mode, 'full');
      assert.deepEqual(report.refused, []);
      assert.equal(report.fetched.commissions, region.commissions.length);
      assert.ok(region.commissions.length > 7 * 3, 'several pages');
      assert.equal(report.counts.persons.added, 40);
      assert.equal(report.counts.serviceIdentities.added, region.employees.length);
      assert.equal(report.counts.commissions.added, region.commissions.length);
      assert.equal(report.counts.units.added, region.units.length);
      assert.equal(report.counts.functionObjects.added, region.functionObjects.length);
      assert.equal(report.watermark, '20260101000000Z');
      const someone = region.employees.find((e) => /[åäöÅÄÖ]/.test(e.person.givenName + e.person.surname))!;
      const person = await loginAttributes(db, someone.personnummer);
      assert.equal(person?.givenName, someone.person.givenName, 'UTF-8 names survive LDIF, slapd and the sync');
      const identity = person!.serviceIdentities.find((s) => s.hsaId === someone.hsaId)!;
      assert.equal(identity.unit?.hsaId, someone.unitHsaId);
      assert.deepEqual(
        identity.commissions.map((c) => c.rights),
        region.commissions.filter((c) => c.serviceIdentityHsaId === someone.hsaId).map((c) => c.rights),
      );
    });

    it('a second full sync changes nothing', async () => {
      const before = await db.query<{ n: number }>('select count(*) as n from directory_history');
      tick();
      const { report } = await syncCatalogue(db, config, { mode: 'full', now });
      for (const entity of ['organisations', 'units', 'persons', 'serviceIdentities', 'commissions', 'functionObjects'] as const) {
        assert.deepEqual(report.counts[entity], { added: 0, changed: 0, ended: 0 }, entity);
      }
      assert.deepEqual(await db.query('select count(*) as n from directory_history'), before);
    });

    it('an incremental run reads only entries changed since the last run', async () => {
      const first = region.employees[0]!;
      await admin.modify(await dnOfEmployee(first.hsaId), [replace('mail', 'ny.adress@region.example')]);
      tick();
      const one = await syncCatalogue(db, config, { mode: 'incremental', now });
      assert.equal(one.report.counts.serviceIdentities.changed, 1);
      assert.equal(one.report.counts.commissions.changed, 0);
      assert.notEqual(one.report.watermark, '20260101000000Z');
      const commission = region.commissions.find((c) => c.serviceIdentityHsaId !== first.hsaId)!;
      await admin.modify(await dnOfEmployee(commission.hsaId), [replace('hsaCommissionPurpose', 'Administration och uppföljning')]);
      const holderDn = await dnOfEmployee(commission.serviceIdentityHsaId);
      await admin.add(`hsaIdentity=${commission.serviceIdentityHsaId}C9,${holderDn}`, {
        objectClass: ['top', 'hsaCommission'],
        cn: 'Nytt uppdrag',
        hsaIdentity: `${commission.serviceIdentityHsaId}C9`,
        hsaCommissionPurpose: 'Vård och behandling',
        hsaCommissionRight: 'Läsa;Alla;Vårdenhet',
        hsaCommissionMember: commission.serviceIdentityHsaId,
        hsaHealthCareProviderHsaId: commission.careProviderHsaId,
        hsaHealthCareUnitHsaId: commission.careUnitHsaId,
      });
      tick();
      const two = await syncCatalogue(db, config, { mode: 'incremental', now });
      // The first change is read again: its stamp equals the watermark, which is inclusive so nothing made in that second is missed.
      assert.equal(two.report.fetched.employees, 1);
      assert.equal(two.report.fetched.commissions, 2);
      assert.deepEqual(two.report.counts.commissions, { added: 1, changed: 1, ended: 0 });
      assert.equal(two.report.counts.serviceIdentities.changed, 0);
      const person = await findPerson(db, region.employees.find((e) => e.hsaId === commission.serviceIdentityHsaId)!.personnummer, ADMIN);
      const commissions = person!.serviceIdentities.flatMap((s) => s.commissions);
      assert.equal(commissions.find((c) => c.hsaId === commission.hsaId)?.purpose, 'Administration och uppföljning');
      assert.ok(commissions.some((c) => c.hsaId === `${commission.serviceIdentityHsaId}C9`));
    });

    it('an entry deleted from the catalogue ends at the reconcile, and its person is marked missing, not deleted', async () => {
      // From the end: the tests before touched the first entries.
      const leaver = region.employees.findLast((e) => region.employees.filter((x) => x.personnummer === e.personnummer).length === 1)!;
      const dn = await dnOfEmployee(leaver.hsaId);
      for (const child of (await admin.search(dn, { scope: 'one' })).searchEntries) await admin.del(child.dn);
      await admin.del(dn);
      tick();
      const incremental = await syncCatalogue(db, config, { mode: 'incremental', now });
      assert.equal(incremental.report.counts.serviceIdentities.ended, 0, 'an incremental run cannot see deletions');
      const removedAt = tick();
      const { report } = await syncCatalogue(db, config, { mode: 'reconcile', now });
      assert.equal(report.counts.serviceIdentities.ended, 1);
      assert.equal(report.counts.persons.ended, 1);
      assert.equal(report.counts.commissions.ended, region.commissions.filter((c) => c.serviceIdentityHsaId === leaver.hsaId).length);
      const person = await findPerson(db, leaver.personnummer, ADMIN);
      assert.deepEqual(person?.missingFromCatalogueSince, removedAt);
      assert.deepEqual(person?.serviceIdentities, []);
      assert.deepEqual((await factHistory(db, 'service_identity', leaver.hsaId)).at(-1)?.validTo, removedAt);
      tick();
      const again = await syncCatalogue(db, config, { mode: 'reconcile', now });
      assert.deepEqual(again.report.counts.persons, { added: 0, changed: 0, ended: 0 }, 'idempotent');
    });

    it('refuses broken entries with the rule they break, and applies the rest', async () => {
      const unit = region.units.find((u) => u.careUnit)!;
      const unitDn = (await admin.search(slapd.baseDn, { filter: `(hsaIdentity=${unit.hsaId})` })).searchEntries[0]!.dn;
      const org = unit.organisationHsaId.slice(2, 12);
      const employee = (suffix: string, extra: Record<string, string>) =>
        admin.add(`hsaIdentity=SE${org}-${suffix},${unitDn}`, {
          objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'hsaPersonExtension'],
          cn: 'Test Testsson',
          sn: 'Testsson',
          givenName: 'Test',
          hsaIdentity: `SE${org}-${suffix}`,
          ...extra,
        });
      await employee('BAD1', { personalIdentityNumber: '191212121213' });
      await employee('BAD2', {});
      await employee('BAD3', { personalIdentityNumber: '199902291234' });
      await employee('GOOD1', { personalIdentityNumber: '191212121212' });
      await admin.add(`cn=Trasigt uppdrag,hsaIdentity=SE${org}-GOOD1,${unitDn}`, {
        objectClass: ['top', 'hsaCommission'],
        cn: 'Trasigt uppdrag',
        hsaIdentity: `SE${org}-GOOD1C0`,
        hsaCommissionPurpose: 'Vård och behandling',
        hsaCommissionRight: 'Läsa utan scope',
        hsaCommissionMember: `SE${org}-GOOD1`,
        hsaHealthCareProviderHsaId: unit.organisationHsaId,
        hsaHealthCareUnitHsaId: unit.hsaId,
      });
      tick();
      const { report } = await syncCatalogue(db, config, { mode: 'full', now });
      const reasons = Object.fromEntries(report.refused.map((r) => [r.key, r.reason]));
      assert.deepEqual(Object.keys(reasons).sort(), [`SE${org}-BAD1`, `SE${org}-BAD2`, `SE${org}-BAD3`, `SE${org}-GOOD1C0`]);
      assert.match(reasons[`SE${org}-BAD1`]!, /personnummer refused \(checksum\)/);
      assert.match(reasons[`SE${org}-BAD2`]!, /personalIdentityNumber is missing/);
      assert.match(reasons[`SE${org}-BAD3`]!, /personnummer refused \(date\)/);
      assert.match(reasons[`SE${org}-GOOD1C0`]!, /hsaCommissionRight "Läsa utan scope" is not/);
      assert.equal(report.counts.persons.added, 1);
      assert.ok(await findPerson(db, '191212121212', ADMIN));
      const stored = await db.query<{ report: { refused: unknown[] } }>('select report from directory_sync_run where id = $1', [report.runId]);
      assert.equal(stored[0]!.report.refused.length, 4, 'the run report is kept');
    });

    it('a dry run shows the diff and writes nothing', async () => {
      const target = region.employees[1]!;
      await admin.modify(await dnOfEmployee(target.hsaId), [replace('paTitleCode', '999999')]);
      const before = await dump(db);
      tick();
      const { report, plan } = await syncCatalogue(db, config, { mode: 'full', now, dryRun: true });
      const [run] = await db.query<{ dry_run: boolean; report: { counts: { serviceIdentities: { changed: number } } } }>('select dry_run, report from directory_sync_run where id = $1', [report.runId]);
      assert.equal(run?.dry_run, true);
      assert.equal(run?.report.counts.serviceIdentities.changed, 1, 'the dry run keeps its report');
      const change = plan.serviceIdentities.changed.find((c) => c.key === target.hsaId);
      assert.deepEqual(change?.fields, ['titleCode']);
      assert.equal(change?.after.titleCode, '999999');
      assert.equal(await dump(db), before);
    });

    it('uses the configured attribute mapping', async () => {
      const mapped = ldapConfigSchema.parse({ ...config, attributes: { ...config.attributes, titleCode: 'mail' } });
      const { plan } = await syncCatalogue(db, mapped, { mode: 'full', now, dryRun: true });
      const change = plan.serviceIdentities.changed.find((c) => c.key === region.employees[2]!.hsaId);
      assert.equal(change?.after.titleCode, region.employees[2]!.mail);
    });

    it('a connection lost in the middle of the read leaves the directory as it was', async () => {
      const measure = await startRelay(slapd.port, Number.POSITIVE_INFINITY);
      await syncCatalogue(db, { ...config, url: `ldap://127.0.0.1:${measure.port}` }, { mode: 'full', now, dryRun: true });
      const total = measure.relayed();
      await measure.close();
      const before = await dump(db);
      const relay = await startRelay(slapd.port, Math.floor(total / 2));
      try {
        tick();
        await assert.rejects(syncCatalogue(db, { ...config, url: `ldap://127.0.0.1:${relay.port}` }, { mode: 'full', now }), (error: Error) => {
          assert.ok(error instanceof CatalogueUnavailableError, String(error));
          assert.match(error.message, /nothing was changed/);
          assert.ok(!error.message.includes(slapd.rootPassword), 'no secrets in messages');
          return true;
        });
      } finally {
        await relay.close();
      }
      assert.equal(await dump(db), before);
      const { report } = await syncCatalogue(db, config, { mode: 'full', now });
      assert.equal(report.counts.serviceIdentities.changed, 1, 'the pending change from the dry run still applies afterwards');
    });

    it('says clearly when the catalogue cannot be reached or the bind fails', async () => {
      await assert.rejects(syncCatalogue(db, { ...config, bindPassword: 'wrong-password' }, { mode: 'full', now }), (error: Error) => {
        assert.ok(error instanceof CatalogueUnavailableError);
        assert.match(error.message, /could not connect and bind/);
        assert.ok(!error.message.includes('wrong-password'));
        return true;
      });
      await assert.rejects(syncCatalogue(db, { ...config, url: undefined }, { mode: 'full', now }), /no catalogue is configured/);
    });
  });
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command. */
async function testCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string; otherCaFile: string }> {
  const openssl = (...args: string[]) => promisify(execFile)('openssl', args);
  const file = (name: string) => join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-subj', '/CN=Tillit test CA', '-days', '2');
  await openssl('req', '-x509', ...ecKey, '-keyout', file('other.key'), '-out', file('other.crt'), '-subj', '/CN=Some other CA', '-days', '2');
  await openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  await promisify(execFile)('sh', [
    '-c',
    `printf 'subjectAltName=IP:127.0.0.1\\n' > ${file('ext')} && openssl x509 -req -in ${file('server.csr')} -CA ${file('ca.crt')} -CAkey ${file('ca.key')} -CAcreateserial -out ${file('server.crt')} -days 2 -extfile ${file('ext')}`,
  ]);
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key'), otherCaFile: file('other.crt') };
}

describe('catalogue sync over TLS', { skip: installed ? false : MISSING }, () => {
  const region = generateRegion({ persons: 5, seed: 'ldap-tls-test' });
  let slapd: Slapd;
  let dir: string;
  let certs: Awaited<ReturnType<typeof testCertificates>>;
  let base: LdapConfig;
  const now = () => new Date('2026-06-01T00:00:00Z');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tillit-ldap-tls-'));
    certs = await testCertificates(dir);
    // The server refuses every operation without TLS, so a passing sync proves TLS was used.
    slapd = await startSlapd({ ldif: regionToLdif(region), tls: { certFile: certs.certFile, keyFile: certs.keyFile, required: true } });
    base = ldapConfigSchema.parse({ url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword, baseDn: slapd.baseDn });
  });
  after(async () => {
    await slapd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, settings] of [
    ['StartTLS', () => ({ startTls: true, caFile: certs.caFile })],
    ['LDAPS', () => ({ url: slapd.tlsUrl!, caFile: certs.caFile })],
  ] as const) {
    it(`reads the catalogue over ${name}, checking the server against the configured CA`, async () => {
      const db = await databaseTargets()[0]!.open();
      try {
        const { report } = await syncCatalogue(db, { ...base, ...settings() }, { mode: 'full', now });
        assert.equal(report.counts.persons.added, 5);
      } finally {
        await db.close();
      }
    });
  }

  it('refuses a server whose certificate the configured CA did not sign, and plain LDAP where TLS is required', async () => {
    const db = await databaseTargets()[0]!.open();
    try {
      await assert.rejects(syncCatalogue(db, { ...base, url: slapd.tlsUrl!, caFile: certs.otherCaFile }, { mode: 'full', now }), (error: Error) => {
        assert.ok(error instanceof CatalogueUnavailableError);
        assert.match(error.message, /could not connect and bind: .*(certificate|self.signed|issuer)/i);
        return true;
      });
      await assert.rejects(syncCatalogue(db, { ...base, startTls: true, caFile: certs.otherCaFile }, { mode: 'full', now }), CatalogueUnavailableError);
      await assert.rejects(syncCatalogue(db, base, { mode: 'full', now }), /confidentiality required|TLS/i);
    } finally {
      await db.close();
    }
  });
});

describe('catalogue entry attributes', () => {
  it('are found whatever the case of their names, and nothing else is taken for one', () => {
    const entry = { dn: 'cn=x', HSAIdentity: 'SE2321000016-ABC', mail: ['a@example.org', ''], photo: Buffer.from('åsa') };
    assert.deepEqual(values(entry, 'hsaIdentity'), ['SE2321000016-ABC']);
    assert.deepEqual(values(entry, 'HSAIDENTITY'), ['SE2321000016-ABC']);
    assert.deepEqual(values(entry, 'mail'), ['a@example.org'], 'empty values are dropped');
    assert.deepEqual(values(entry, 'photo'), ['åsa']);
    for (const absent of ['telephoneNumber', 'constructor', 'toString', '__proto__', 'hasOwnProperty', '']) assert.deepEqual(values(entry, absent), [], absent);
  });
});
