import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config/index.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import { createMemoryStore, type Database } from '../../store/index.ts';
import { registerClientCommands } from './cli.ts';
import { clientMetadata } from './clients.ts';
import { openSealer } from './secrets.ts';

const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://', oidc: { encryptionKey: Buffer.alloc(32, 3).toString('base64') } } });

describe(`tillit clients (${databaseTargets()[0]!.name})`, () => {
  let db: Database;
  before(async () => {
    db = await databaseTargets()[0]!.open();
  });
  after(async () => {
    await db.close();
  });

  /** Runs one command line and returns what it printed. */
  async function run(...args: string[]): Promise<string> {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
    registerClientCommands(program, async () => ({ config, db, ephemeral: createMemoryStore(), log: pino({ level: 'silent' }), now: () => new Date(), close: async () => {} }));
    const lines: string[] = [];
    const original = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      await program.parseAsync(['node', 'tillit', ...args]);
    } finally {
      console.log = original;
    }
    return lines.join('\n');
  }

  it('adds, lists, shows, rotates and removes a client', async () => {
    const added = JSON.parse(await run('clients', 'add', '--name', 'Journalen', '--redirect-uri', 'https://j.example/cb', '--redirect-uri', 'https://j.example/cb2', '--claims', 'name,commissionHsaId', '--methods', 'oob-other', '--json'));
    assert.deepEqual(added.redirectUris, ['https://j.example/cb', 'https://j.example/cb2']);
    assert.deepEqual(added.allowedClaims, ['name', 'commissionHsaId']);
    assert.equal((await clientMetadata(db, await openSealer(config), added.clientId))!['client_secret'], added.secret);
    assert.ok(JSON.parse(await run('clients', 'list', '--json')).some((c: { clientId: string }) => c.clientId === added.clientId));
    assert.match(await run('clients', 'show', added.clientId), /displayName: Journalen/);
    const rotated = JSON.parse(await run('clients', 'rotate-secret', added.clientId, '--json'));
    assert.notEqual(rotated.secret, added.secret);
    assert.match(await run('clients', 'remove', added.clientId), /removed/);
    await assert.rejects(run('clients', 'show', added.clientId), /no client/);
    await assert.rejects(run('clients', 'add', '--name', 'X', '--redirect-uri', 'http://x.example/cb'), /only https/);
  });

  it('adds a card-login client that authenticates with its function certificate (tls_client_auth)', async () => {
    const dn = 'CN=Journal backend, 2.5.4.5=SE2321000016-F001, O=Region Demo';
    const added = JSON.parse(await run('clients', 'add', '--name', 'Journal backend', '--redirect-uri', 'https://j.example/cb', '--methods', 'mtls', '--auth-method', 'tls_client_auth', '--tls-subject-dn', dn, '--json'));
    assert.equal(added.secret, null);
    assert.deepEqual(added.methods, ['mtls']);
    const metadata = (await clientMetadata(db, await openSealer(config), added.clientId))!;
    assert.equal(metadata['token_endpoint_auth_method'], 'tls_client_auth');
    assert.equal(metadata['tls_client_auth_subject_dn'], dn);
    assert.equal(metadata['client_secret'], undefined);
    await assert.rejects(run('clients', 'add', '--name', 'X', '--redirect-uri', 'https://x.example/cb', '--auth-method', 'tls_client_auth'), /--tls-subject-dn/);
    await assert.rejects(run('clients', 'add', '--name', 'X', '--redirect-uri', 'https://x.example/cb', '--tls-subject-dn', dn), /only for tls_client_auth/);
  });
});
