import type { Command } from 'commander';
import type { PartContext } from '../server/index.ts';
import { addCaller, addCertificateCaller } from './callers.ts';

type OpenContext = (command: Command) => Promise<PartContext & { close(): Promise<void> }>;

/** `tillit authn callers …`: the systems (IdPs) allowed to use the order API. */
export function registerAuthnCommands(program: Command, open: OpenContext): void {
  const authn = program.command('authn').description('the authentication service');
  const callers = authn.command('callers').description('systems allowed to start authentication and signing orders');
  callers
    .command('add')
    .description('register a caller and print its secret (shown once), or register it by its function certificate')
    .requiredOption('--id <id>', 'caller id (lower-case letters, digits, . _ -)')
    .requiredOption('--name <name>', 'name the eID app shows the user')
    .option('--tls-subject-dn <dn>', "authenticate by this function client certificate's subject over mutual TLS (authn.callerMtls.port) instead of a secret")
    .option('--json', 'print the result as JSON')
    .action(async (options: { id: string; name: string; tlsSubjectDn?: string; json?: boolean }, command: Command) => {
      const context = await open(command);
      try {
        if (options.tlsSubjectDn !== undefined) {
          const caller = await addCertificateCaller(context.db, options.id, options.name, options.tlsSubjectDn);
          if (options.json) console.log(JSON.stringify(caller));
          else console.log(`caller ${caller.id} (${caller.displayName}) registered; it calls the order API over mutual TLS with its function certificate`);
          return;
        }
        const { caller, secret } = await addCaller(context.db, options.id, options.name);
        if (options.json) console.log(JSON.stringify({ ...caller, secret }));
        else console.log(`caller ${caller.id} (${caller.displayName}) registered\nsecret: ${secret}\nUse HTTP Basic authentication with the id and this secret; it is not shown again.`);
      } finally {
        await context.close();
      }
    });
  callers
    .command('list')
    .description('list registered callers')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = await open(command);
      try {
        const rows = await context.db.query<{ id: string; display_name: string; tls_subject_dn: string | null; created_at: Date; disabled_at: Date | null }>(
          'select id, display_name, tls_subject_dn, created_at, disabled_at from authn_callers order by id',
        );
        const callersList = rows.map((r) => ({ id: r.id, displayName: r.display_name, authentication: r.tls_subject_dn ? `certificate ${r.tls_subject_dn}` : 'secret', createdAt: r.created_at.toISOString(), disabled: r.disabled_at !== null }));
        if (options.json) console.log(JSON.stringify(callersList));
        else if (callersList.length === 0) console.log('no callers registered');
        else for (const c of callersList) console.log(`${c.id}\t${c.displayName}\t${c.authentication}\t${c.createdAt}${c.disabled ? '\tdisabled' : ''}`);
      } finally {
        await context.close();
      }
    });
}
