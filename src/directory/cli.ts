import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { PartContext } from '../server/index.ts';
import type { CatalogueSyncMode } from './catalogue-sync.ts';
import { generateRegion } from './generate.ts';
import { IdentifierError } from './identifiers/errors.ts';
import { parseHsaId } from './identifiers/hsa-id.ts';
import { parsePersonnummer } from './identifiers/personnummer.ts';
import { regionToLdif } from './ldap/ldif.ts';
import { SCHEMA_FILE } from './ldap/slapd.ts';
import { CatalogueUnavailableError, syncCatalogue } from './ldap-sync.ts';
import { findByHsaId, findPerson } from './reads.ts';
import { RegisterUnavailableError } from './register.ts';
import { httpRegister } from './register-http.ts';
import { extractRegister, readRegisterExtract, toRegisterJsonLines } from './register-file.ts';
import { syncFromRegister, type RegisterRunReport } from './register-sync.ts';
import type { Change, SyncPlan } from './sync-plan.ts';

type OpenContext = () => Promise<PartContext & { close(): Promise<void> }>;

/** Failures the operator can act on: one line, no stack. */
const EXPECTED = [IdentifierError, CatalogueUnavailableError, RegisterUnavailableError];

// An operator with database access may see everything, protected identities included.
const OPERATOR = { mayViewProtectedIdentities: true };

/** `tillit directory …`: sync, show, generate, import-register, sync-register. `write` is for tests. */
export function registerDirectoryCommands(program: Command, openContext: OpenContext, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  const print = (line: string) => write(`${line}\n`);
  const directory = program.command('directory').description('the directory: persons, HSA-ids, organisations, commissions');

  const withContext = async <T>(command: Command, work: (context: PartContext) => Promise<T>): Promise<T> => {
    const context = await openContext();
    let failure: Error;
    try {
      return await work(context);
    } catch (error) {
      if (!EXPECTED.some((type) => error instanceof type)) throw error;
      failure = error as Error;
    } finally {
      await context.close();
    }
    // Reported only after the stores are closed: command.error may end the process.
    return command.error(`tillit ${command.name()}: ${failure.message}`, { exitCode: 1 });
  };

  directory
    .command('sync')
    .description('sync from the LDAP catalogue: changes since the last run, or --full, or --reconcile (only what vanished)')
    .addOption(new Option('--full', 'read everything; what vanished from the catalogue ends').conflicts('reconcile'))
    .option('--reconcile', 'read only the keys and end what vanished')
    .option('--dry-run', 'print what would change, change nothing')
    .option('--json', 'print the run report (and with --dry-run the plan) as JSON')
    .action(async (options: { full?: boolean; reconcile?: boolean; dryRun?: boolean; json?: boolean }, command: Command) => {
      const mode: CatalogueSyncMode = options.full ? 'full' : options.reconcile ? 'reconcile' : 'incremental';
      const { report, plan } = await withContext(command, (context) =>
        syncCatalogue(context.db, context.config.directory.ldap, { mode, dryRun: options.dryRun ?? false, now: context.now }),
      );
      if (options.json) return print(JSON.stringify(options.dryRun ? { report, plan } : { report }));
      if (options.dryRun) for (const line of describePlan(plan)) print(line);
      print(`run ${report.runId}${options.dryRun ? ' (dry run: only this report was written)' : ''}: ${report.mode} sync, read ${Object.entries(report.fetched).map(([k, n]) => `${n} ${k}`).join(', ')}`);
      for (const [entity, counts] of Object.entries(report.counts)) {
        if (typeof counts === 'object') print(`  ${entity.padEnd(18)} +${counts.added} ~${counts.changed} -${counts.ended}${entity === 'persons' ? ' (- is marked missing)' : ''}`);
      }
      print(`  refused            ${report.refused.length}`);
      for (const refusal of report.refused) print(`    ${refusal.entity} ${refusal.key}: ${refusal.reason}`);
    });

  directory
    .command('show')
    .description('show a person (by personnummer) or whatever an HSA-id names')
    .argument('<id>', 'personnummer (12 digits) or HSA-id')
    .option('--json', 'print as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const found = await withContext(command, async (context) => {
        if (id.startsWith('SE')) return findByHsaId(context.db, parseHsaId(id).value, OPERATOR);
        const person = await findPerson(context.db, parsePersonnummer(id, context.now()).value, OPERATOR);
        return person && { kind: 'person' as const, person };
      });
      if (!found) command.error(`tillit show: ${id} is not in the directory`, { exitCode: 1 });
      print(options.json ? JSON.stringify(found) : JSON.stringify(found, null, 2));
    });

  directory
    .command('generate')
    .description('write a deterministic synthetic region: LDIF for slapd, the schema, and a register extract')
    .requiredOption('--persons <n>', 'how many persons', (v) => wholeNumber(v, '--persons'))
    .option('--seed <text>', 'the same seed gives the same region', 'tillit')
    .option('--out <dir>', 'folder to write to', '.')
    .option('--base-dn <dn>', 'base DN of the LDIF', 'c=SE')
    .option('--json', 'print what was written as JSON')
    .action(async (options: { persons: number; seed: string; out: string; baseDn: string; json?: boolean }) => {
      const region = generateRegion({ persons: options.persons, seed: options.seed });
      const out = resolve(options.out);
      await mkdir(out, { recursive: true });
      const files = { ldif: join(out, 'region.ldif'), register: join(out, 'register.jsonl'), schema: join(out, 'tillit-hsa.schema') };
      await writeFile(files.ldif, regionToLdif(region, { baseDn: options.baseDn }));
      await writeFile(files.register, toRegisterJsonLines(region.register));
      await copyFile(SCHEMA_FILE, files.schema);
      const counts = { organisations: region.organisations.length, units: region.units.length, persons: region.register.length, serviceIdentities: region.employees.length, commissions: region.commissions.length };
      if (options.json) return print(JSON.stringify({ files, counts }));
      print(`wrote ${Object.values(files).join(', ')}`);
      print(`  ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ')}`);
    });

  directory
    .command('import-register')
    .description('update persons from a population-register extract (JSON lines, or CSV when the name ends in .csv); persons not in it are marked missing')
    .argument('<file>', 'the extract')
    .option('--dry-run', 'count what would change, change nothing')
    .option('--json', 'print the run report as JSON')
    .action(async (file: string, options: { dryRun?: boolean; json?: boolean }, command: Command) => {
      const report = await withContext(command, async (context) => {
        const extract = await readRegisterExtract(file, context.now()).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'ENOENT' ? new RegisterUnavailableError(`the extract ${file} does not exist`) : error;
        });
        return syncFromRegister(context.db, extractRegister(extract), { now: context.now, dryRun: options.dryRun ?? false, mode: 'extract', refused: extract.refused });
      });
      if (options.json) return print(JSON.stringify(report));
      printRegisterReport(report, print);
    });

  directory
    .command('sync-register')
    .description("update every person from the population register's HTTP service (directory.register.url); persons it does not know are marked missing")
    .option('--dry-run', 'count what would change, change nothing')
    .option('--json', 'print the run report as JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }, command: Command) => {
      const report = await withContext(command, async (context) => {
        const config = context.config.directory.register;
        if (!config.url) throw new RegisterUnavailableError('no population register service is configured: set directory.register.url, or use import-register with an extract');
        const register = httpRegister({ ...config, url: config.url }, { today: context.now });
        return syncFromRegister(context.db, register, { now: context.now, dryRun: options.dryRun ?? false, mode: 'http' });
      });
      if (options.json) return print(JSON.stringify(report));
      printRegisterReport(report, print);
    });
}

function printRegisterReport(report: RegisterRunReport, print: (line: string) => void): void {
  print(`run ${report.runId}${report.dryRun ? ' (dry run: only this report was written)' : ''}: ${report.checked} persons checked, ${report.changed} changed, ${report.markedMissing} marked missing from the register, ${report.returned} back`);
  for (const refusal of report.refused) print(`  refused line ${refusal.line}: ${refusal.reason}`);
}

function wholeNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a whole number of at least 1`);
  return n;
}

/** The diff, one line per entity: + added, ~ changed (with the fields), - ended or marked missing. */
export function describePlan(plan: SyncPlan): string[] {
  const lines: string[] = [];
  const section = <T>(label: string, p: { added: T[]; changed: Change<T>[]; ended: T[] }, key: (t: T) => string) => {
    for (const added of p.added) lines.push(`+ ${label} ${key(added)}`);
    for (const change of p.changed) {
      const fields = change.fields.map((f) => `${f}: ${JSON.stringify((change.before as Record<string, unknown>)[f])} → ${JSON.stringify((change.after as Record<string, unknown>)[f])}`);
      lines.push(`~ ${label} ${change.key} ${fields.join(', ')}`);
    }
    for (const ended of p.ended) lines.push(`- ${label} ${key(ended)}`);
  };
  const byHsaId = (t: { hsaId: string }) => t.hsaId;
  section('organisation', plan.organisations, byHsaId);
  section('unit', plan.units, byHsaId);
  section('person', plan.persons, (p) => p.personnummer);
  section('service identity', plan.serviceIdentities, byHsaId);
  section('commission', plan.commissions, byHsaId);
  section('function object', plan.functionObjects, byHsaId);
  return lines;
}
