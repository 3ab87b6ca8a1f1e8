import { type Command, Option } from 'commander';
import type { PartContext } from '../../server/index.ts';
import { PortalRefused } from '../errors.ts';
import { toCsv } from './csv.ts';
import { EVENT_DIMENSIONS, PERIODS, STATUS_DIMENSIONS, VIEWS, parseReportRequest, type RawParameters } from './parameters.ts';
import { runReport, type Report } from './report.ts';

type OpenContext = (command: Command) => Promise<PartContext & { close(): Promise<void> }>;
interface ReportOptions {
  organisation?: string;
  org?: string;
  unit?: string;
  by?: string;
  view?: string;
  limit?: string;
  from?: string;
  to?: string;
  per?: string;
  format: 'table' | 'csv' | 'json';
}

/** Columns padded to their widest cell; numbers to the right. */
export function reportTable(report: Report): string {
  const cells = report.rows.map((row) => report.columns.map((c) => (row[c] === null || row[c] === undefined ? '–' : String(row[c]))));
  const widths = report.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => (report.columns[i] === 'count' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const foot = report.total !== undefined ? [`total ${report.total}`] : report.truncated ? [`(more rows than --limit ${report.rows.length})`] : [];
  return [line(report.columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line), ...foot].join('\n') + '\n';
}

/**
 * `tillit report status|events`: the portal's reports for an operator at the
 * command line (an operator sees every organisation, protected identities too).
 */
export function registerReportCommands(program: Command, open: OpenContext, write: (text: string) => void): void {
  const report = program.command('report').description("the eID portal's reports: credentials now (status) and what happened to them (events)");
  const shared = (command: Command, dimensions: readonly string[], fallback: string) =>
    command
      .option('--organisation <hsa-id>', "the organisation's HSA-id")
      .addOption(new Option('--org <hsa-id>', 'same as --organisation').hideHelp())
      .option('--unit <hsa-id>', 'only this unit and the units below it')
      .option('--by <list>', `comma-separated groupings: ${dimensions.join(', ')} (default ${fallback})`)
      .option('--view <view>', `${VIEWS.join(' or ')} (default counts)`)
      .option('--limit <n>', 'listings: at most this many rows (default 1000)')
      .addOption(new Option('--format <format>', 'output').choices(['table', 'csv', 'json']).default('table'));
  const run = (name: 'status' | 'events') => async (options: ReportOptions, command: Command) => {
    const context = await open(command);
    try {
      const raw: RawParameters = { organisation: options.organisation ?? options.org, unit: options.unit, by: options.by, view: options.view, limit: options.limit, from: options.from, to: options.to, per: options.per };
      if (!raw['organisation']) throw new PortalRefused('invalid', '--organisation (or --org): missing; give the HSA-id');
      const result = await runReport(context.db, { operator: 'cli' }, parseReportRequest(name, raw), context.now());
      write(options.format === 'json' ? `${JSON.stringify(result)}\n` : options.format === 'csv' ? toCsv(result.columns, result.rows) : reportTable(result));
    } finally {
      await context.close();
    }
  };
  shared(report.command('status').description('credentials now, counted by type, LoA, status, reason or unit, or listed'), STATUS_DIMENSIONS, 'type,status').action(run('status'));
  shared(
    report
      .command('events')
      .description('what happened between two days (ordered, produced, activated, revoked with reason, expired …), counted or listed')
      .option('--from <date>', 'first day, YYYY-MM-DD')
      .option('--to <date>', 'last day (included), YYYY-MM-DD')
      .option('--per <period>', `count per ${PERIODS.join(', ')}`),
    EVENT_DIMENSIONS,
    'event',
  ).action(run('events'));
}
