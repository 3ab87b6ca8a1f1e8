import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import type { Database, Queryable } from '../store/index.ts';
import { revokeCertificate } from './revoke.ts';
import { openPki, type Pki } from './service.ts';

const config = loadConfig({ overrides: { dataDir: 'memory://', pki: { keyPassphrase: 'test passphrase 0123456789', crl: { republishEveryMinutes: 60 } } } });

for (const target of databaseTargets()) {
  describe(`CRL publication and OCSP answers over time (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let clock = new Date('2026-11-20T10:00:00.400Z');
    const files = scratch();

    before(async () => {
      db = await target.open();
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
    });
    after(async () => {
      files.done();
      await db.close();
    });

    it('keeps a CRL until its republish time, then makes the next one; a revocation made by another node is in the next check’s CRL', async () => {
      await pki.publishDueCrls();
      const first = await pki.currentCrl('function');
      clock = new Date(clock.getTime() + 59 * 60_000);
      await pki.publishDueCrls();
      assert.equal((await pki.currentCrl('function')).number, first.number, 'not due yet');

      clock = new Date(clock.getTime() + 2 * 60_000);
      await pki.publishDueCrls();
      const scheduled = await pki.currentCrl('function');
      assert.ok(scheduled.number > first.number);
      assert.equal(scheduled.thisUpdate.getTime(), new Date('2026-11-20T11:01:00Z').getTime(), 'whole seconds');
      assert.equal(scheduled.nextUpdate.getTime() - scheduled.thisUpdate.getTime(), config.pki.crl.validityHours * 3_600_000);

      const issued = await pki.issueFromCsr('function-client', opensslCsr(files, 'client', { subject: '/CN=client/serialNumber=SE2321000016-F020' }));
      // Another node revokes: only the database changes, this node's PKI is not told.
      await revokeCertificate(db, { serial: issued.serial, reason: 'keyCompromise', actor: 'node-b admin' }, clock, false);
      await pki.publishDueCrls();
      const after = await pki.currentCrl('function');
      assert.ok(after.number > scheduled.number);
      const text = openssl(['crl', '-inform', 'DER', '-in', files.file('after.crl', after.der), '-noout', '-text']).output;
      assert.match(text, new RegExp(`Serial Number: ${issued.serial.toUpperCase()}[\\s\\S]*Key Compromise`));
      assert.match(text, /Last Update: Nov 20 11:01:00 2026 GMT/);
    });

    it('serves the pre-produced OCSP answer until 90% of its validity, then a new one; a nonce always gets a fresh one', async () => {
      const issued = await pki.issueFromCsr('function-client', opensslCsr(files, 'ocsp', { subject: '/CN=ocsp/serialNumber=SE2321000016-F021' }));
      const ca = files.file('function-ca.pem', pki.caCertificate('function')!.certificate.toString('pem'));
      const leaf = files.file('ocsp.pem', issued.certificatePem);
      assert.ok(openssl(['ocsp', '-issuer', ca, '-cert', leaf, '-no_nonce', '-reqout', files.path('plain.der')]).ok);
      assert.ok(openssl(['ocsp', '-issuer', ca, '-cert', leaf, '-reqout', files.path('nonce.der')]).ok);
      const thisUpdate = (der: Uint8Array) => /This Update: (.*)/.exec(openssl(['ocsp', '-respin', files.file('r.der', der), '-resp_text', '-noverify']).output)?.[1];
      const first = await pki.ocsp.respond(files.read('plain.der'));
      clock = new Date(clock.getTime() + 0.85 * config.pki.ocsp.validityMinutes * 60_000);
      assert.deepEqual((await pki.ocsp.respond(files.read('plain.der'))).der, first.der, 'still the same answer at 85%');
      const withNonce = await pki.ocsp.respond(files.read('nonce.der'));
      assert.notEqual(thisUpdate(withNonce.der), thisUpdate(first.der), 'a nonce is answered now');
      clock = new Date(clock.getTime() + 0.1 * config.pki.ocsp.validityMinutes * 60_000);
      const renewed = await pki.ocsp.respond(files.read('plain.der'));
      assert.notDeepEqual(renewed.der, first.der);
      assert.equal(renewed.thisUpdate!.getTime(), Math.floor(clock.getTime() / 1000) * 1000);
      // The test clock is days behind the real one, so OpenSSL calls the times stale; the answer itself is read.
      assert.match(openssl(['ocsp', '-respin', files.file('renewed.der', renewed.der), '-issuer', ca, '-cert', leaf, '-no_nonce', '-noverify']).output, /ocsp\.pem: (WARNING: Status times invalid[\s\S]*)?\ngood\n/);
      assert.notEqual(thisUpdate(renewed.der), thisUpdate(first.der));
    });

    it('revokes in the caller\'s transaction: rolled back with it, committed with it', async () => {
      const issued = await pki.issueFromCsr('function-client', opensslCsr(files, 'within', { subject: '/CN=within/serialNumber=SE2321000016-F022' }));
      await assert.rejects(
        db.transaction(async (tx) => {
          const { changed } = await pki.revoke({ serial: issued.serial, reason: 'cessationOfOperation', actor: 'the caller' }, tx);
          assert.equal(changed, true);
          assert.equal((await pki.status(issued.serial, tx))?.status, 'revoked', 'revoked inside the transaction');
          throw new Error('the caller failed to record it');
        }),
        /failed to record it/,
      );
      assert.equal((await pki.status(issued.serial))?.status, 'good', 'rolled back with the caller');
      await db.transaction((tx) => pki.revoke({ serial: issued.serial, reason: 'cessationOfOperation', actor: 'the caller' }, tx));
      const status = await pki.status(issued.serial);
      assert.deepEqual([status?.status, status?.reason, status?.revokedBy], ['revoked', 'cessationOfOperation', 'the caller']);
    });

    it('issues a card certificate on hold in the same statement that records it: never good, and nothing left when the hold cannot be recorded', async () => {
      // The PKI over a database that shows every statement run inside a transaction, and can fail the hold's event.
      let failEvent = false;
      const seen: { serial: string; status: { revoked_at: Date | null; on_hold: boolean } }[] = [];
      const watch = (tx: Queryable): Queryable => ({
        exec: (script) => tx.exec(script),
        async query(text, params) {
          if (failEvent && text.includes('insert into pki_events')) throw new Error('the event store failed');
          const rows = await tx.query(text, params);
          if (text.includes('insert into pki_certificates')) {
            const serial = String(params![0]);
            const [status] = await tx.query<{ revoked_at: Date | null; on_hold: boolean }>('select revoked_at, on_hold from pki_certificates where serial = $1', [serial]);
            seen.push({ serial, status: status! });
          }
          return rows as never;
        },
      });
      const watched: Database = { kind: db.kind, query: (t, p) => db.query(t, p), exec: (s) => db.exec(s), close: async () => undefined, transaction: (work) => db.transaction((tx) => work(watch(tx))) };
      const held = await openPki({ config, db: watched, log: pino({ level: 'silent' }), now: () => clock });
      const ca = files.file('pnr-ca.pem', held.caCertificate('person-pnr-loa3')!.certificate.toString('pem'));
      const ocspOf = async (serial: string) => {
        // With a nonce: a fresh answer every time, never one cached before the change.
        assert.ok(openssl(['ocsp', '-issuer', ca, '-serial', `0x${serial}`, '-reqout', files.path(`${serial}.der`)]).ok);
        return openssl(['ocsp', '-respin', files.file(`${serial}-resp.der`, (await held.ocsp.respond(files.read(`${serial}.der`))).der), '-resp_text', '-noverify']).output;
      };
      const subject = { commonName: 'Held Card', givenName: 'Held', surname: 'Card', serialNumber: '199001012385' };
      const issued = await held.issueOnHold('person-auth-pnr-loa3', opensslCsr(files, 'held', { subject: '/CN=held' }), subject, 'portal:production');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.serial, issued.serial);
      assert.equal(seen[0]!.status.on_hold, true, 'on hold already in the statement that inserts it');
      assert.notEqual(seen[0]!.status.revoked_at, null);
      assert.match(await ocspOf(issued.serial), /Cert Status: revoked[\s\S]*Reason: certificateHold/);
      assert.equal((await held.status(issued.serial))?.status, 'on-hold');

      failEvent = true;
      await assert.rejects(held.issueOnHold('person-auth-pnr-loa3', opensslCsr(files, 'held-2', { subject: '/CN=held' }), subject, 'portal:production'), /event store failed/);
      const lost = seen[1]!.serial;
      assert.equal(await held.status(lost), undefined, 'rolled back: no certificate with that serial');
      assert.match(await ocspOf(lost), /Cert Status: unknown/);
      failEvent = false;

      await held.releaseIssuanceHold(issued.serial, 'portal:activation');
      assert.match(await ocspOf(issued.serial), /Cert Status: good/);
    });
  });
}
