import { protectedAmong, unitSubtree } from '../../directory/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { authorize, isOperator, placeTarget, type Principal } from '../access.ts';
import { may } from '../roles.ts';
import { periodLabel, periodsBetween, type EventRequest, type Period, type ReportRequest, type StatusRequest } from './parameters.ts';
import { eventCounts, eventListing, statusCounts, statusListing, type Cell, type Row } from './store.ts';

/** A report as the pages, the API (JSON and CSV) and the command line show it: named columns and rows. */
export interface Report {
  readonly report: 'status' | 'events';
  readonly view: 'counts' | 'listing';
  readonly organisation: string;
  readonly unit: string | null;
  readonly generatedAt: string;
  readonly by: readonly string[];
  readonly from?: string;
  readonly to?: string;
  readonly per?: Period | null;
  /** Event counts per period: every period of the range, also those with nothing in them (for the chart). */
  readonly periods?: readonly string[];
  readonly columns: readonly string[];
  readonly rows: readonly Row[];
  /** Counts: the sum of every row. */
  readonly total?: number;
  /** Listings: more rows matched than the limit. */
  readonly truncated?: boolean;
}

const STATUS_LISTING_COLUMNS = ['type', 'id', 'loa', 'status', 'reason', 'unit', 'subject', 'personnummer', 'since'];
const EVENT_LISTING_COLUMNS = ['at', 'event', 'type', 'id', 'loa', 'reason', 'unit', 'subject', 'personnummer'];

/**
 * Runs a report for a caller: report.read on the organisation or unit (the
 * issuers and the security officer, domain.md §5), checked on the server.
 * Counts show no one; listings hide a protected identity's personnummer and
 * HSA-id unless the caller also holds protected-identity-viewer in scope.
 */
export async function runReport(db: Database, by: Principal, request: ReportRequest, now: Date): Promise<Report> {
  const target = await placeTarget(db, request.organisation, request.unit);
  authorize(by, 'report.read', target);
  const mayViewProtected = isOperator(by) || may(by, 'report.read', { ...target, protectedIdentity: true });
  const units = request.unit ? await unitSubtree(db, request.unit) : null;
  const head = { report: request.report, view: request.view, organisation: request.organisation, unit: request.unit, generatedAt: now.toISOString(), by: request.by };
  if (request.report === 'status') {
    if (request.view === 'counts') return counted(head, [...request.by], await statusCounts(db, request, units, now));
    const rows = await statusListing(db, request, units, now);
    return listed(head, STATUS_LISTING_COLUMNS, await hideProtected(db, rows, mayViewProtected), request.limit);
  }
  const range = { from: request.from, to: request.to, per: request.per };
  if (request.view === 'counts') {
    const rows = (await eventCounts(db, request, units, now)).map((r) => (request.per ? { ...r, period: periodLabel(String(r['period']), request.per) } : r));
    return { ...counted(head, [...(request.per ? ['period'] : []), ...request.by], rows), ...range, ...(request.per ? { periods: periodsBetween(request.from, request.to, request.per) } : {}) };
  }
  const rows = await eventListing(db, request, units, now);
  return { ...listed(head, EVENT_LISTING_COLUMNS, await hideProtected(db, rows, mayViewProtected), request.limit), ...range };
}

type Head = Pick<Report, 'report' | 'view' | 'organisation' | 'unit' | 'generatedAt' | 'by'>;

function counted(head: Head, dims: string[], rows: Row[]): Report {
  const shaped = rows.map((r) => Object.fromEntries([...dims.map((d) => [d, r[d] ?? null] as [string, Cell]), ['count', Number(r['count'])]]));
  return { ...head, columns: [...dims, 'count'], rows: shaped, total: shaped.reduce((sum, r) => sum + Number(r['count']), 0) };
}

function listed(head: Head, columns: string[], rows: readonly object[], limit: number): Report {
  const kept = rows.slice(0, limit).map((r) => {
    const row: Row = {};
    for (const c of columns) row[c] = ((r as Record<string, unknown>)[c] ?? null) as Cell;
    return row;
  });
  return { ...head, columns, rows: kept, truncated: rows.length > limit };
}

async function hideProtected<R extends { personnummer: string | null; subject: string }>(db: Queryable, rows: R[], mayViewProtected: boolean): Promise<R[]> {
  if (mayViewProtected) return rows;
  const hidden = await protectedAmong(db, rows.flatMap((r) => (r.personnummer ? [r.personnummer] : [])));
  return rows.map((r) => (r.personnummer && hidden.has(r.personnummer) ? { ...r, personnummer: null, subject: '(protected identity)' } : r));
}

export type { EventRequest, StatusRequest };
