import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, hostname, userInfo } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { createEnrolmentService } from '../authn/index.ts';
import type { Config } from '../config/index.ts';
import { openPki } from '../pki/index.ts';
import type { PartContext } from '../server/index.ts';
import { importCard } from './card.ts';
import { approveOrder } from './client.ts';
import { enrollWithCode } from './enrol.ts';
import { openKeyStore } from './keystore.ts';

type ConfigOf = (command: Command) => Config;
type OpenContext = (command: Command) => Promise<PartContext & { close(): Promise<void> }>;

/** The token itself, or the same-device link (`tillit-eid:///?autostarttoken=…`) it came in. */
function autoStartTokenOf(value: string): string {
  if (!value.startsWith('tillit-eid:')) return value;
  return new URL(value).searchParams.get('autostarttoken') ?? value;
}

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
export function registerAppCommands(program: Command, configOf: ConfigOf, open: OpenContext): void {
  const app = program.command('app').description('the eID app: holds your eIDs and answers login and signing requests');
  app
    .command('list')
    .description('list the eIDs in this app')
    .addOption(homeOption())
    .option('--json', 'print the result as JSON')
    .action(async (options: { home: string; json?: boolean }) => {
      const keys = await openKeyStore(options.home);
      const credentials = keys.list().map((c) => ({
        id: c.id,
        kind: c.kind,
        label: c.label,
        uses: c.uses ?? ['auth', 'sign'],
        ...(c.cardId ? { cardId: c.cardId } : {}),
        subject: c.certificatePem ? new X509Certificate(c.certificatePem).subject.replace(/\n/g, ', ') : null,
        notAfter: c.certificatePem ? new Date(new X509Certificate(c.certificatePem).validTo).toISOString() : null,
        enrolled: Boolean(c.certificatePem),
        createdAt: c.createdAt,
      }));
      if (options.json) console.log(JSON.stringify({ locked: keys.locked, credentials }));
      else if (credentials.length === 0) console.log(`no eIDs in ${options.home}`);
      else for (const c of credentials) console.log(`${c.id}\t${c.kind === 'card' ? `card (${c.uses.join('+')})` : 'mobile eID'}\t${c.label}\t${c.subject ?? 'enrolment not finished'}\t${c.notAfter ? `valid to ${c.notAfter.slice(0, 10)}` : ''}${keys.locked ? '\tLOCKED' : ''}`);
    });
  app
    .command('approve')
    .description('answer a login or signing request: from the QR code, or the auto-start token of this device')
    .addOption(new Option('--qr <content>', 'the scanned QR code content').conflicts('autostartToken'))
    .addOption(new Option('--autostart-token <token>', 'the token from the login page on this device, or its tillit-eid:/// link'))
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
      const startedBy = options.qr ? { qr: options.qr } : { autoStartToken: autoStartTokenOf(options.autostartToken!) };
      const { challenge, outcome } = await approveOrder(serverFor(options, configOf(command)), keys, startedBy, {
        pin: options.pin,
        ...(options.decline ? { decline: true } : {}),
        ...(options.credential ? { credentialId: options.credential } : {}),
      });
      if (options.json) console.log(JSON.stringify({ requester: challenge.requesterName, kind: challenge.kind, text: challenge.userVisibleText, outcome }));
      else console.log(`${challenge.kind === 'sign' ? 'Signing for' : 'Login to'} ${challenge.requesterName}${challenge.userVisibleText ? `: ${challenge.userVisibleText}` : ''}\n${JSON.stringify(outcome)}`);
    });
  app
    .command('enroll')
    .description('enrol a mobile eID with a code from self-service or an operator: makes a key under your PIN and gets its certificate')
    .requiredOption('--code <code>', 'the enrolment code (as shown, or the QR content tillit-enrol.…)')
    .requiredOption('--pin <pin>', 'your PIN (6–12 digits; the same for every eID in this app)')
    .option('--label <label>', 'name of the eID in the app', 'Mobilt eID')
    .option('--server <url>', 'Tillit server (default: server.publicBaseUrl)')
    .option('--ca <file>', 'PEM certificate to trust for the server (default: the CA of this installation’s HTTPS certificate)')
    .addOption(homeOption())
    .option('--json', 'print the result as JSON')
    .action(async (options: ServerOptions & { code: string; pin: string; label: string; json?: boolean }, command: Command) => {
      const keys = await openKeyStore(options.home);
      const { id, certificatePem } = await enrollWithCode(serverFor(options, configOf(command)), keys, options.code, options.pin, { label: options.label, deviceLabel: hostname() });
      const certificate = new X509Certificate(certificatePem);
      const result = { id, subject: certificate.subject.replace(/\n/g, ', '), serial: certificate.serialNumber.toLowerCase(), notAfter: new Date(certificate.validTo).toISOString() };
      if (options.json) console.log(JSON.stringify(result));
      else console.log(`mobile eID ${id} enrolled: ${result.subject}, valid to ${result.notAfter.slice(0, 10)}`);
    });
  const card = app.command('card').description('cards: the authentication and signature certificates of a card, for TLS login');
  card
    .command('import')
    .description('import a card from PKCS#12 files (one per certificate: authentication, signature)')
    .requiredOption('--p12 <file...>', 'PKCS#12 file(s) of the card')
    .requiredOption('--pin <pin>', 'your PIN: protects the keys in the app, and opens the files unless --p12-password-env is given')
    .option('--p12-password-env <name>', 'environment variable holding the PKCS#12 password (default: the PIN)')
    .option('--label <label>', 'name of the card in the app', 'Kort')
    .addOption(homeOption())
    .option('--json', 'print the result as JSON')
    .action(async (options: { p12: string[]; pin: string; p12PasswordEnv?: string; label: string; home: string; json?: boolean }, command: Command) => {
      const password = options.p12PasswordEnv ? process.env[options.p12PasswordEnv] : options.pin;
      if (password === undefined) command.error(`error: the environment variable ${options.p12PasswordEnv} is not set`, { exitCode: 2 });
      const files = await Promise.all(options.p12.map((file) => readFile(file)));
      const keys = await openKeyStore(options.home);
      const { cardId, credentialIds } = await importCard(keys, files, password!, options.pin, options.label);
      const imported = keys.list().filter((c) => credentialIds.includes(c.id));
      if (options.json) console.log(JSON.stringify({ cardId, credentials: imported.map((c) => ({ id: c.id, uses: c.uses })) }));
      else console.log(`card ${cardId} imported: ${imported.map((c) => `${(c.uses ?? []).join('+')} ${new X509Certificate(c.certificatePem!).subject.replace(/\n/g, ', ')}`).join('; ')}`);
    });
  card
    .command('admin-key')
    .description("(card manufacturer, demo) write the card's admin key from the production batch onto the card in the app")
    .requiredOption('--card <id>', 'the card id in the app (from `tillit app card import`)')
    .requiredOption('--key <base64>', "the card's adminKey from the batch line")
    .addOption(homeOption())
    .action(async (options: { card: string; key: string; home: string }) => {
      await (await openKeyStore(options.home)).setCardAdminKey(options.card, Buffer.from(options.key, 'base64'));
      console.log(`admin key written to card ${options.card}`);
    });
  card
    .command('unlock-challenge')
    .description('the challenge a PIN-blocked card gives: the portal answers it after your mobile eID login')
    .requiredOption('--card <id>', 'the card id in the app')
    .addOption(homeOption())
    .action(async (options: { card: string; home: string }) => {
      console.log(await (await openKeyStore(options.home)).unlockChallenge(options.card));
    });
  card
    .command('unlock')
    .description("unlock the card with the portal's response to its challenge (resets the PIN counter)")
    .requiredOption('--card <id>', 'the card id in the app')
    .requiredOption('--response <base64>', "the portal's response")
    .addOption(homeOption())
    .action(async (options: { card: string; response: string; home: string }) => {
      await (await openKeyStore(options.home)).unlockCard(options.card, options.response);
      console.log(`card ${options.card} unlocked`);
    });
  app
    .command('enrolment-code')
    .description('(operators, demo) make a one-time mobile eID enrolment code for a person, valid 15 minutes')
    .requiredOption('--person <id>', 'personnummer or HSA-id of the person')
    .option('--json', 'print the result as JSON')
    .action(async (options: { person: string; json?: boolean }, command: Command) => {
      const context = await open(command);
      try {
        const enrolment = createEnrolmentService({ db: context.db, pki: await openPki(context), now: context.now, codeTtlMinutes: context.config.authn.oob.enrolmentCodeMinutes });
        const code = await enrolment.createCode(options.person, `cli:${userInfo().username}`);
        const result = { code: code.code, qr: code.qr, personnummer: code.personnummer, expiresAt: code.expiresAt.toISOString() };
        if (options.json) console.log(JSON.stringify(result));
        else console.log(`enrolment code for ${code.personnummer}: ${code.code}\nQR content: ${code.qr}\nvalid until ${result.expiresAt}, once\nin the app: tillit app enroll --code ${code.code} --pin <your PIN>`);
      } finally {
        await context.close();
      }
    });
}
