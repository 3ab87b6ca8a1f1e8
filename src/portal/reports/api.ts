import { z } from 'zod';
import type { ApiRoute } from '../api/routes.ts';
import { FileAnswer } from '../api/file-answer.ts';
import { toCsv } from './csv.ts';
import { EVENT_DIMENSIONS, LISTING_LIMIT_MAX, parseEventRequest, parseStatusRequest, PERIODS, STATUS_DIMENSIONS, VIEWS, type RawParameters } from './parameters.ts';
import { runReport, type Report } from './report.ts';

const hsaId = z.string().max(31).describe('an HSA-id like SE2321000016-ABC1');
const common = {
  organisation: hsaId.describe('the organisation reported on'),
  unit: hsaId.optional().describe('a unit of the organisation: the report covers it and the units below it'),
  view: z.enum(VIEWS).optional().describe('counts (default) or listing (one row per credential or event)'),
  limit: z.string().regex(/^\d{1,7}$/).optional().describe(`listings: at most this many rows (default 1000, at most ${LISTING_LIMIT_MAX}); the answer says truncated when there were more`),
  format: z.enum(['json', 'csv']).optional().describe('json (default) or csv (text/csv, formulas neutralised)'),
};
export const reportSchemas = {
  statusQuery: z.strictObject({ ...common, by: z.string().max(100).optional().describe(`comma-separated groupings of the counts: ${STATUS_DIMENSIONS.join(', ')} (default type,status)`) }),
  eventQuery: z.strictObject({
    ...common,
    from: z.string().max(10).describe('first day, YYYY-MM-DD (Swedish calendar)'),
    to: z.string().max(10).describe('last day, included, YYYY-MM-DD'),
    per: z.enum(PERIODS).optional().describe('count per week (ISO), month, quarter or year'),
    by: z.string().max(100).optional().describe(`comma-separated groupings of the counts: ${EVENT_DIMENSIONS.join(', ')} (default event)`),
  }),
};

/** The answer in the asked format: JSON as is, or CSV of the same columns and rows. */
export function reportAnswer(report: Report, format: string | undefined): Report | FileAnswer {
  if (format !== 'csv') return report;
  const range = report.from ? `-${report.from}-${report.to}` : `-${report.generatedAt.slice(0, 10)}`;
  return new FileAnswer('text/csv; charset=utf-8', `tillit-${report.report}-${report.view}-${report.unit ?? report.organisation}${range}.csv`, toCsv(report.columns, report.rows));
}

const raw = (query: Record<string, string | undefined>): RawParameters => query;

/** Reports in the portal API: the same role check (report.read in scope) as the pages. */
export const REPORT_API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET',
    path: '/reports/status',
    summary: 'Status report: the credentials of an organisation (or unit subtree) now, counted by type, LoA, status, reason or unit, or listed',
    query: reportSchemas.statusQuery,
    csv: true,
    handle: async ({ query }, actor, d) => reportAnswer(await runReport(d.cards.db, actor, parseStatusRequest(raw(query)), d.cards.now()), query.format),
  },
  {
    method: 'GET',
    path: '/reports/events',
    summary: 'Event report: what happened to the credentials between two days (ordered, produced, activated, revoked with reason, expired …), counted per period and grouping, or listed',
    query: reportSchemas.eventQuery,
    csv: true,
    handle: async ({ query }, actor, d) => reportAnswer(await runReport(d.cards.db, actor, parseEventRequest(raw(query)), d.cards.now()), query.format),
  },
];
