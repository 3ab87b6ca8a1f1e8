import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import type { Database } from '../store/index.ts';
import { revokeCertificate } from './revoke.ts';
import { openPki, type Pki } from './service.ts';

const config = loadConfig({ overrides: { dataDir: 'memory://', pki: { keyPassphrase: 'test passphrase 0123456789', crl: { republishEveryMinutes: 60 } } } });

for (const target of databaseTargets()) {
  describe(`CRL publication on a schedule and after revocations elsewhere (${target.name})`, () => {
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
  });
}
