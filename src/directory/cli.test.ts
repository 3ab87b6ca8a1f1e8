import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { configSchema } from '../config/schema.ts';
import { createMemoryStore, type Database } from '../store/index.ts';
import type { PartContext } from '../server/index.ts';
import { registerDirectoryCommands } from './cli.ts';
import { createDirectoryPart } from './index.ts';
import { slapdInstalled, startSlapd, type Slapd } from './ldap/slapd.ts';

const installed = await slapdInstalled();
const now = () => new Date('2026-06-01T00:00:00Z');

function contextFor(db: Database, directory: unknown = {}): PartContext {
  return { config: configSchema.parse({ dataDir: 'memory://', directory }), db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now };
}

for (const target of databaseTargets()) {
  describe(`demo seed on ${target.name}`, () => {
    it('seeds a small region once and names persons to log in as', async () => {
      const db = await target.open();
      try {
        const part = await createDirectoryPart(contextFor(db), new Map());
        const lines = await part.seedDemo!();
        assert.match(lines[0]!, /Region Demo \(SE2321000008-0001\), Vårdbolaget Syntet 1 AB .*; \d+ units, 50 persons/);
        const pnr = /personnummer (\d{12})/.exec(lines[1]!)![1]!;
        const [row] = await db.query<{ n: number }>('select count(*) as n from directory_service_identity s join directory_person p on p.id = s.person_id where p.personnummer = $1', [pnr]);
        assert.equal(row!.n, 1);
        assert.match(lines.at(-1)!, /with protected identity: .*personnummer \d{12}/);
        const [{ n }] = (await db.query<{ n: number }>('select count(*) as n from directory_person')) as [{ n: number }];
        assert.equal(n, 50);
      } finally {
        await db.close();
      }
    });
  });

  describe(`tillit directory … on ${target.name}`, { skip: installed ? false : 'slapd is not installed (Debian: apt-get install slapd ldap-utils)' }, () => {
    let db: Database;
    let dir: string;
    let slapd: Slapd | undefined;
    const output: string[] = [];
    const errors: string[] = [];
    let directoryConfig: unknown = {};

    const run = async (...args: string[]) => {
      output.length = 0;
      errors.length = 0;
      const program = new Command('tillit').exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: (s) => output.push(s) });
      registerDirectoryCommands(program, async () => ({ ...contextFor(db, directoryConfig), close: async () => {} }), (s) => output.push(s));
      await program.parseAsync(['node', 'tillit', ...args]);
      return output.join('');
    };
    const failure = async (...args: string[]) => {
      await assert.rejects(run(...args), CommanderError);
      return errors.join('');
    };

    before(async () => {
      db = await target.open();
      dir = await mkdtemp(join(tmpdir(), 'tillit-cli-'));
    });
    after(async () => {
      await slapd?.stop();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('generates a region that slapd loads, syncs it, imports its register and shows a person', async () => {
      const generated = JSON.parse(await run('directory', 'generate', '--persons', '25', '--seed', 'cli', '--out', dir, '--json'));
      assert.equal(generated.counts.persons, 25);
      const register = (await readFile(generated.files.register, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      slapd = await startSlapd({ ldif: await readFile(generated.files.ldif, 'utf8') });
      directoryConfig = { ldap: { url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword } };

      const dry = await run('directory', 'sync', '--full', '--dry-run');
      assert.match(dry, /^\+ person \d{12}$/m);
      assert.match(dry, /run \d+ \(dry run: only this report was written\): full sync/);
      const sync = JSON.parse(await run('directory', 'sync', '--json'));
      assert.equal(sync.report.counts.persons.added, 25);
      const again = await run('directory', 'sync');
      assert.match(again, /incremental sync/);
      assert.match(again, /persons +\+0 ~0 -0/);

      await writeFile(join(dir, 'short.jsonl'), register.slice(1).map((r) => JSON.stringify(r)).join('\n') + '\nnot json\n');
      const imported = await run('directory', 'import-register', join(dir, 'short.jsonl'));
      assert.match(imported, /25 persons checked, .* 1 marked missing from the register/);
      assert.match(imported, /refused line 25: /);

      const shown = JSON.parse(await run('directory', 'show', register[1].personnummer, '--json'));
      assert.equal(shown.kind, 'person');
      assert.equal(shown.person.surname, register[1].surname);
      assert.ok(shown.person.serviceIdentities.length >= 1);
      const byHsaId = JSON.parse(await run('directory', 'show', shown.person.serviceIdentities[0].hsaId, '--json'));
      assert.equal(byHsaId.kind, 'service_identity');
    });

    it("syncs from the register's HTTP service", async () => {
      const persons = await db.query<{ personnummer: string; givenName: string; surname: string }>(
        'select personnummer, given_name as "givenName", surname from directory_person order by personnummer',
      );
      const server = createServer((req, res) => {
        const person = persons.find((p) => req.url === `/persons/${p.personnummer}`);
        if (!person) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...person, protectedIdentity: false, deceased: false, newPersonnummer: null }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        directoryConfig = { ...(directoryConfig as object), register: { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` } };
        const report = JSON.parse(await run('directory', 'sync-register', '--json'));
        assert.equal(report.checked, persons.length);
        assert.equal(report.markedMissing, 0);
        assert.equal(report.returned, 1, 'the one the short extract left out is back');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('fails with one clear line', async () => {
      directoryConfig = {};
      assert.match(await failure('directory', 'sync-register'), /no population register service is configured/);
      assert.match(await failure('directory', 'show', '191212121213'), /personnummer refused \(checksum\)/);
      assert.match(await failure('directory', 'show', '191212121212'), /191212121212 is not in the directory/);
      assert.match(await failure('directory', 'show', 'SE123-X'), /HSA-id refused/);
      assert.match(await failure('directory', 'import-register', join(dir, 'nope.jsonl')), /nope.jsonl does not exist/);
      assert.match(await failure('directory', 'sync', '--full', '--reconcile'), /cannot be used with/);
      assert.match(await failure('directory', 'generate', '--persons', 'many'), /--persons must be a whole number/);
      directoryConfig = { ldap: { url: 'ldap://127.0.0.1:1', connectTimeoutMs: 2000 } };
      assert.match(await failure('directory', 'sync'), /catalogue at ldap:\/\/127.0.0.1:1: .*nothing was changed/);
      for (const text of errors) assert.equal(text.trim().split('\n').length, 1);
    });
  });
}
