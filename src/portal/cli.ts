import { userInfo } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { PartContext } from '../server/index.ts';
import { auditLine, readAudit, verifyAudit } from './audit.ts';
import { PortalRefused } from './errors.ts';
import { appointRole, listAssignments, recordTraining, removeRole } from './role-store.ts';
import { registerReportCommands } from './reports/cli.ts';
import { isRole, ROLES } from './roles.ts';

type OpenContext = (command: Command) => Promise<PartContext & { close(): Promise<void> }>;

function instant(value: string): Date {
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) throw new InvalidArgumentError(`expected a date or time like 2026-05-01 or 2026-05-01T08:00:00Z, got '${value}'`);
  return date;
}
function positiveInteger(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`expected an assignment id (a positive whole number), got '${value}'`);
  return Number(value);
}

/**
 * `tillit audit …` (verify the chain, export a period), `tillit report …` and `tillit portal roles …`
 * (how an operator appoints the first responsible issuer). `write` is for tests.
 */
export function registerPortalCommands(program: Command, open: OpenContext, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  const print = (line: string) => write(`${line}\n`);
  const withContext = async (command: Command, work: (context: PartContext) => Promise<void>) => {
    const context = await open(command);
    try {
      await work(context);
    } finally {
      await context.close();
    }
  };
  const operator = () => new Option('--operator <name>', 'who is doing this, for the audit trail').default(userInfo().username);

  const audit = program.command('audit').description("the eID portal's audit trail");
  audit
    .command('verify')
    .description('check the whole hash chain: exits 1 naming the first broken entry')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      withContext(command, async ({ db }) => {
        const result = await verifyAudit(db);
        if (options.json) print(JSON.stringify(result));
        if (!result.ok) throw new PortalRefused('conflict', `audit trail broken at entry ${result.brokenAt}: ${result.problem}`);
        if (!options.json) print(`audit trail intact: ${result.entries} entries, head ${result.head}`);
      }),
    );
  audit
    .command('export')
    .description('print the entries of a period as JSON lines (with both hashes, so they can be checked against the chain)')
    .option('--from <time>', 'first instant (inclusive)', instant)
    .option('--to <time>', 'last instant (exclusive)', instant)
    .action(async (options: { from?: Date; to?: Date }, command: Command) =>
      withContext(command, async ({ db }) => {
        for await (const entry of readAudit(db, options)) print(auditLine(entry));
      }),
    );

  registerReportCommands(program, open, write);

  const roles = program.command('portal').description('the eID portal').command('roles').description('role assignments (domain roles per organisation or unit subtree)');
  roles
    .command('add')
    .description('appoint a role as an operator (the first responsible issuer of an organisation; later ones are appointed in the portal)')
    .requiredOption('--holder <hsa-id>', "the holder's HSA-id (a current service identity)")
    .addOption(new Option('--role <role>', 'the role').choices(ROLES).makeOptionMandatory())
    .requiredOption('--organisation <hsa-id>', "the organisation's HSA-id")
    .option('--unit <hsa-id>', 'limit the role to this unit and the units below it')
    .option('--trained-on <date>', "an ID administrator's latest training", instant)
    .addOption(operator())
    .option('--json', 'print the assignment as JSON')
    .action(async (options: { holder: string; role: string; organisation: string; unit?: string; trainedOn?: Date; operator: string; json?: boolean }, command: Command) =>
      withContext(command, async (context) => {
        if (!isRole(options.role)) throw new InvalidArgumentError(`unknown role ${options.role}`);
        const assignment = await appointRole(
          context.db,
          { operator: options.operator },
          { holder: options.holder, role: options.role, organisation: options.organisation, unit: options.unit ?? null, trainedOn: options.trainedOn ?? null },
          context.now(),
        );
        if (options.json) print(JSON.stringify(assignment));
        else print(`assignment ${assignment.id}: ${assignment.holder} is ${assignment.role} for ${assignment.unit ?? assignment.organisation}`);
        if (assignment.role === 'id-administrator' && !assignment.trainedOn) print('note: without a training date (--trained-on) the ID administrator role is not in force');
      }),
    );
  roles
    .command('list')
    .description('current role assignments')
    .option('--organisation <hsa-id>', 'only this organisation')
    .option('--json', 'print as JSON')
    .action(async (options: { organisation?: string; json?: boolean }, command: Command) =>
      withContext(command, async (context) => {
        const list = await listAssignments(context.db, options.organisation ?? null);
        if (options.json) print(JSON.stringify(list));
        else if (list.length === 0) print('no role assignments');
        else for (const a of list) print(`${a.id}\t${a.organisation}\t${a.unit ?? '-'}\t${a.holder}\t${a.role}${a.trainedOn ? `\ttrained ${a.trainedOn.toISOString().slice(0, 10)}` : ''}`);
      }),
    );
  roles
    .command('remove')
    .description('end a role assignment (kept in the history and the audit trail)')
    .argument('<id>', 'assignment id (from `tillit portal roles list`)', positiveInteger)
    .addOption(operator())
    .action(async (id: number, options: { operator: string }, command: Command) =>
      withContext(command, async (context) => {
        await removeRole(context.db, { operator: options.operator }, id, context.now());
        print(`assignment ${id} removed`);
      }),
    );
  roles
    .command('training')
    .description("record an ID administrator's latest training")
    .argument('<id>', 'assignment id', positiveInteger)
    .requiredOption('--trained-on <date>', 'date of the training', instant)
    .addOption(operator())
    .action(async (id: number, options: { trainedOn: Date; operator: string }, command: Command) =>
      withContext(command, async (context) => {
        const updated = await recordTraining(context.db, { operator: options.operator }, id, options.trainedOn, context.now());
        print(`assignment ${id}: trained on ${updated.trainedOn!.toISOString().slice(0, 10)}`);
      }),
    );
}
