import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { Config } from '../config/index.ts';
import { approveOrder } from './client.ts';
import { openKeyStore } from './keystore.ts';

type ConfigOf = (command: Command) => Config;

interface ServerOptions {
  home: string;
  server?: string;
  ca?: string;
}

/** The server the app talks to and the certificate it trusts: explicit, else this installation's own. */
function serverFor(options: ServerOptions, config: Config) {
  const installationCa = join(config.dataDir, 'tls', 'server-ca.crt');
  const caFile = options.ca ?? (existsSync(installationCa) ? installationCa : undefined);
  return { baseUrl: options.server ?? config.server.publicBaseUrl, ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}) };
}

const homeOption = () => new Option('--home <dir>', 'the app’s key store folder').default(join(homedir(), '.tillit-eid')).env('TILLIT_APP_HOME');

/** `tillit app …`: the eID app as a command-line program. */
export function registerAppCommands(program: Command, configOf: ConfigOf): void {
  const app = program.command('app').description('the eID app: holds your eIDs and answers login and signing requests');
  app
    .command('list')
    .description('list the eIDs in this app')
    .addOption(homeOption())
    .option('--json', 'print the result as JSON')
    .action(async (options: { home: string; json?: boolean }) => {
      const keys = await openKeyStore(options.home);
      const credentials = keys.list().map((c) => ({ id: c.id, kind: c.kind, label: c.label, enrolled: Boolean(c.certificatePem), createdAt: c.createdAt }));
      if (options.json) console.log(JSON.stringify({ locked: keys.locked, credentials }));
      else if (credentials.length === 0) console.log(`no eIDs in ${options.home}`);
      else for (const c of credentials) console.log(`${c.id}\t${c.kind}\t${c.label}\t${c.enrolled ? 'ready' : 'enrolment not finished'}${keys.locked ? '\tLOCKED' : ''}`);
    });
  app
    .command('approve')
    .description('answer a login or signing request: from the QR code, or the auto-start token of this device')
    .addOption(new Option('--qr <content>', 'the scanned QR code content').conflicts('autostartToken'))
    .addOption(new Option('--autostart-token <token>', 'the token from the login page on this device'))
    .requiredOption('--pin <pin>', 'your PIN')
    .option('--decline', 'say no instead of approving')
    .option('--credential <id>', 'which eID answers (default: the first ready one)')
    .option('--server <url>', 'Tillit server (default: server.publicBaseUrl)')
    .option('--ca <file>', 'PEM certificate to trust for the server (default: the CA of this installation’s HTTPS certificate)')
    .addOption(homeOption())
    .option('--json', 'print the result as JSON')
    .action(async (options: ServerOptions & { qr?: string; autostartToken?: string; pin: string; decline?: boolean; credential?: string; json?: boolean }, command: Command) => {
      if (!options.qr && !options.autostartToken) command.error('error: give --qr or --autostart-token', { exitCode: 2 });
      const keys = await openKeyStore(options.home);
      const startedBy = options.qr ? { qr: options.qr } : { autoStartToken: options.autostartToken! };
      const { challenge, outcome } = await approveOrder(serverFor(options, configOf(command)), keys, startedBy, {
        pin: options.pin,
        ...(options.decline ? { decline: true } : {}),
        ...(options.credential ? { credentialId: options.credential } : {}),
      });
      if (options.json) console.log(JSON.stringify({ requester: challenge.requesterName, kind: challenge.kind, text: challenge.userVisibleText, outcome }));
      else console.log(`${challenge.kind === 'sign' ? 'Signing for' : 'Login to'} ${challenge.requesterName}${challenge.userVisibleText ? `: ${challenge.userVisibleText}` : ''}\n${JSON.stringify(outcome)}`);
    });
}
