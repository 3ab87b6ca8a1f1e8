import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { AppRequestError, KeyStoreError } from '../app/index.ts';
import { registerAppCommands } from '../app/cli.ts';
import { CallerError, EnrolmentError, OrderError } from '../authn/index.ts';
import { registerAuthnCommands } from '../authn/cli.ts';
import { ConfigError, maskSecrets, type Config } from '../config/index.ts';
import { registerDirectoryCommands } from '../directory/index.ts';
import { registerClientCommands } from '../idp/oidc/cli.ts';
import { registerSpCommands } from '../idp/saml/cli.ts';
import { JobCommandError, registerJobCommands } from '../jobs/index.ts';
import { MailRefused, registerMailCommands } from '../mail/index.ts';
import { IssuanceRefused, KeyDecryptionError, Pkcs12Error, PkiSetupError, registerPkiCommands, RevocationRefused } from '../pki/index.ts';
import { registerPortalCommands } from '../portal/cli.ts';
import { PortalRefused } from '../portal/errors.ts';
import { startSystem, type RunningSystem } from '../system/index.ts';
import { MigrationError, readMigrations, StoreUnavailableError } from '../store/index.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { configFor, openCommandContext, openJobsContext } from './context.ts';

/** Failures a user can act on: shown as one line, without a stack. */
const EXPECTED_ERRORS = [EnrolmentError, Pkcs12Error, ConfigError, StoreUnavailableError, MigrationError, CallerError, OrderError, KeyStoreError, AppRequestError, IssuanceRefused, RevocationRefused, KeyDecryptionError, PkiSetupError, JobCommandError, MailRefused, PortalRefused];

export function buildProgram(): Command {
  const program = new Command('tillit')
    .description('Tillit: e-identity for health and social care (PKI, directory, eID portal, authentication, IdP)')
    .version(packageJson.version, '-V, --version')
    .addOption(new Option('-c, --config <file>', 'JSON config file').env('TILLIT_CONFIG'))
    .showSuggestionAfterError(true)
    // One line per error, prefixed like every other failure of the command.
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd().replace(/^error: /, 'tillit: ').replace(/\n\(Did you mean/, ' (did you mean')}\n`) })
    .exitOverride();

  program
    .command('start')
    .description('run the system: HTTPS on server.httpsPort, plain HTTP on server.httpPort; seeds a demo region on first start')
    .option('--parts <names>', 'comma-separated parts to run (default: all)')
    .action(async (options: { parts?: string }, command: Command) => {
      const config = configFor(command, options.parts ? { parts: options.parts } : {});
      const system = await startSystem(config);
      printWelcome(system, config);
      await untilSignal(system, config.server.shutdownTimeoutMs);
    });

  program
    .command('migrate')
    .description('apply pending database migrations, then exit')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = await openCommandContext(command);
      const all = await readMigrations();
      const rows = await context.db.query<{ name: string; applied_at: Date }>('select name, applied_at from schema_migrations order by name');
      await context.close();
      const result = { database: context.db.kind, known: all.length, applied: rows.map((r) => ({ name: r.name, appliedAt: r.applied_at.toISOString() })) };
      if (options.json) console.log(JSON.stringify(result));
      else console.log(`${result.database}: ${rows.length} of ${all.length} migrations applied; the schema is up to date`);
    });

  const config = program.command('config').description('inspect the configuration');
  config
    .command('print')
    .description('print the effective configuration (defaults, file, TILLIT_* environment) with secrets masked')
    .option('--json', 'compact JSON on one line')
    .action((options: { json?: boolean }, command: Command) => {
      const masked = maskSecrets(configFor(command));
      console.log(options.json ? JSON.stringify(masked) : JSON.stringify(masked, null, 2));
    });

  registerPkiCommands(program, openCommandContext);
  registerDirectoryCommands(program, () => openCommandContext(program));
  registerAuthnCommands(program, openCommandContext);
  registerClientCommands(program, openCommandContext);
  registerSpCommands(program, openCommandContext);
  registerAppCommands(program, configFor, openCommandContext);
  registerJobCommands(program, openJobsContext);
  registerMailCommands(program, openCommandContext);
  registerPortalCommands(program, openCommandContext);
  return program;
}

function printWelcome(system: RunningSystem, config: Config): void {
  const lines = [
    '',
    `Tillit is running (${config.demo.regionName}, data: ${config.database.url ? 'PostgreSQL' : config.dataDir})`,
    `  Start page      ${config.server.publicBaseUrl}/   (listening on ${system.httpsUrl})`,
    `  Plain HTTP      ${config.server.plainBaseUrl}/   (CRL, OCSP, CA certificates; listening on ${system.httpUrl})`,
    `  Health          ${config.server.publicBaseUrl}/healthz  ·  ${config.server.publicBaseUrl}/readyz  ·  ${config.server.publicBaseUrl}/metrics`,
    ...system.parts.flatMap((part) => part.links.map((link) => `  ${part.title.en.padEnd(15)} ${config.server.publicBaseUrl}${link.href}`)),
    ...(system.demoLines.length ? ['', 'Demo region seeded:', ...system.demoLines.map((l) => `  ${l}`)] : []),
    '',
    `TLS: ${system.tls.source}`,
    ...(config.server.tls.certFile ? [] : [`  Browsers accept it once they trust ${join(config.dataDir, 'tls', 'server-ca.crt')} (also at ${config.server.plainBaseUrl}/ca/root.crt when the PKI runs); or accept the warning.`]),
    'Press Ctrl-C to stop.',
    '',
  ];
  // The welcome goes to stderr so stdout stays pure JSON log lines for log shippers.
  process.stderr.write(lines.join('\n') + '\n');
}

/** Graceful stop on SIGINT/SIGTERM; a second signal, or a stop that hangs past the timeout, ends the process at once. */
function untilSignal(system: RunningSystem, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        system.log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stopping = true;
      system.log.info({ signal }, 'shutting down: no new requests, finishing those in flight');
      const timer = setTimeout(() => {
        system.log.error({ timeoutMs }, 'shutdown took too long: exiting');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      system.stop().then(
        () => {
          system.log.info('stopped');
          resolve();
        },
        (error: unknown) => {
          system.log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help/version text).
      return error.exitCode === 0 ? 0 : 2;
    }
    const known = EXPECTED_ERRORS.some((type) => error instanceof type);
    process.stderr.write(`tillit: ${known ? (error as Error).message : `unexpected error: ${(error as Error).message}`}\n`);
    return 1;
  }
}
