import { PortalRefused } from '../errors.ts';

/**
 * What a report asks for, parsed once for the pages, the API and the command
 * line alike. Each refusal names the parameter that was wrong.
 */

export const CREDENTIAL_TYPES = ['ordinary-card', 'reserve-card', 'test-card', 'function-certificate', 'mobile-eid'] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];
/** What the event report counts: a card's steps, a function certificate's issue, a mobile eID's enrolment, and revocation and expiry of all. */
export const EVENTS = ['ordered', 'confirmed', 'in-production', 'produced', 'activated', 'revoked', 'withdrawn', 'deleted', 'issued', 'enrolled', 'expired'] as const;
export const STATUSES = ['awaiting-confirmation', 'ordered', 'in-production', 'sent', 'active', 'revoked', 'withdrawn', 'expired'] as const;

export const STATUS_DIMENSIONS = ['type', 'loa', 'status', 'reason', 'unit'] as const;
export const EVENT_DIMENSIONS = ['type', 'loa', 'event', 'reason', 'unit'] as const;
export type StatusDimension = (typeof STATUS_DIMENSIONS)[number];
export type EventDimension = (typeof EVENT_DIMENSIONS)[number];
export type Dimension = StatusDimension | EventDimension;
export const PERIODS = ['week', 'month', 'quarter', 'year'] as const;
export type Period = (typeof PERIODS)[number];
export const VIEWS = ['counts', 'listing'] as const;
export type View = (typeof VIEWS)[number];

export const LISTING_LIMIT_DEFAULT = 1000;
export const LISTING_LIMIT_MAX = 100_000;
/** Ten years of weeks is still a readable table; more is a mistake. */
const MAX_DAYS = 3700;

interface Common {
  readonly organisation: string;
  /** The unit whose subtree is reported; null: the whole organisation. */
  readonly unit: string | null;
  readonly view: View;
  /** Listings: at most this many rows (the answer says when there were more). */
  readonly limit: number;
}
export interface StatusRequest extends Common {
  readonly report: 'status';
  readonly by: readonly StatusDimension[];
}
export interface EventRequest extends Common {
  readonly report: 'events';
  readonly by: readonly EventDimension[];
  /** First and last day (Swedish calendar, both included), YYYY-MM-DD. */
  readonly from: string;
  readonly to: string;
  readonly per: Period | null;
}
export type ReportRequest = StatusRequest | EventRequest;

/** Raw parameters as they come from a query string, a form or the command line. */
export type RawParameters = Readonly<Record<string, string | undefined>>;

const HSA_ID = /^SE\d+-[A-Z0-9]+$/;
const invalid = (parameter: string, message: string) => new PortalRefused('invalid', `${parameter}: ${message}`);

function hsaId(raw: RawParameters, name: string, required: boolean): string | null {
  const value = raw[name]?.trim() ?? '';
  if (!value) {
    if (required) throw invalid(name, 'missing; give the HSA-id, e.g. SE2321000016-ABC1');
    return null;
  }
  if (!HSA_ID.test(value) || value.length > 31) throw invalid(name, `'${value.slice(0, 40)}' is not an HSA-id like SE2321000016-ABC1`);
  return value;
}

function oneOf<T extends string>(raw: RawParameters, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw[name]?.trim() || fallback;
  if (!(allowed as readonly string[]).includes(value)) throw invalid(name, `unknown value '${value.slice(0, 40)}'; use one of ${allowed.join(', ')}`);
  return value as T;
}

function dimensions<T extends string>(raw: RawParameters, allowed: readonly T[], fallback: readonly T[]): T[] {
  const value = raw['by']?.trim();
  if (!value) return [...fallback];
  const asked = value.split(',').map((d) => d.trim());
  const unknown = asked.filter((d) => !(allowed as readonly string[]).includes(d));
  if (unknown.length) throw invalid('by', `unknown grouping ${unknown.map((u) => `'${u.slice(0, 40)}'`).join(', ')}; use any of ${allowed.join(', ')}`);
  if (new Set(asked).size !== asked.length) throw invalid('by', 'a grouping is named twice');
  return asked as T[];
}

function limit(raw: RawParameters): number {
  const value = raw['limit']?.trim();
  if (!value) return LISTING_LIMIT_DEFAULT;
  if (!/^[1-9]\d{0,6}$/.test(value) || Number(value) > LISTING_LIMIT_MAX) throw invalid('limit', `a whole number from 1 to ${LISTING_LIMIT_MAX}, got '${value.slice(0, 40)}'`);
  return Number(value);
}

/** A calendar date YYYY-MM-DD that exists (no 2026-02-30). */
export function calendarDate(value: string | undefined, name: string): string {
  const text = value?.trim() ?? '';
  if (!text) throw invalid(name, 'missing; give a date like 2026-01-01');
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const date = match ? new Date(Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!)) : null;
  if (!date || date.toISOString().slice(0, 10) !== text || +match![1]! < 1900) throw invalid(name, `'${text.slice(0, 40)}' is not a date like 2026-01-01`);
  return text;
}

const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / 86_400_000;

function common(raw: RawParameters): Common {
  return { organisation: hsaId(raw, 'organisation', true)!, unit: hsaId(raw, 'unit', false), view: oneOf(raw, 'view', VIEWS, 'counts'), limit: limit(raw) };
}

export function parseStatusRequest(raw: RawParameters): StatusRequest {
  return { report: 'status', ...common(raw), by: dimensions(raw, STATUS_DIMENSIONS, ['type', 'status']) };
}

export function parseEventRequest(raw: RawParameters): EventRequest {
  const from = calendarDate(raw['from'], 'from');
  const to = calendarDate(raw['to'], 'to');
  if (from > to) throw invalid('from', `${from} is after to (${to})`);
  if (dayNumber(to) - dayNumber(from) > MAX_DAYS) throw invalid('to', `at most ${MAX_DAYS} days after from`);
  const per = raw['per']?.trim() ? oneOf(raw, 'per', PERIODS, 'month') : null;
  return { report: 'events', ...common(raw), by: dimensions(raw, EVENT_DIMENSIONS, ['event']), from, to, per };
}

export function parseReportRequest(report: string, raw: RawParameters): ReportRequest {
  if (report === 'status') return parseStatusRequest(raw);
  if (report === 'events') return parseEventRequest(raw);
  throw invalid('report', `unknown report '${report.slice(0, 40)}'; use status or events`);
}

/** The first day of the period a day falls in (ISO weeks start on Monday). */
export function periodStart(day: string, per: Period): string {
  const date = new Date(`${day}T00:00:00Z`);
  if (per === 'week') date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  else if (per === 'month') date.setUTCDate(1);
  else if (per === 'quarter') date.setUTCMonth(date.getUTCMonth() - (date.getUTCMonth() % 3), 1);
  else date.setUTCMonth(0, 1);
  return date.toISOString().slice(0, 10);
}

/** How a period is named in tables and CSV: 2026-W05, 2026-02, 2026-Q1, 2026. */
export function periodLabel(start: string, per: Period): string {
  const year = start.slice(0, 4);
  if (per === 'month') return start.slice(0, 7);
  if (per === 'quarter') return `${year}-Q${Math.floor((+start.slice(5, 7) - 1) / 3) + 1}`;
  if (per === 'year') return year;
  // ISO 8601 week: the week belongs to the year of its Thursday.
  const thursday = new Date(`${start}T00:00:00Z`);
  thursday.setUTCDate(thursday.getUTCDate() + 3);
  const weekYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000)) + 1;
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}

/** Every period from the one holding `from` to the one holding `to`, as labels, in order. */
export function periodsBetween(from: string, to: string, per: Period): string[] {
  const labels: string[] = [];
  let start = periodStart(from, per);
  while (start <= to) {
    labels.push(periodLabel(start, per));
    const next = new Date(`${start}T00:00:00Z`);
    if (per === 'week') next.setUTCDate(next.getUTCDate() + 7);
    else next.setUTCMonth(next.getUTCMonth() + (per === 'month' ? 1 : per === 'quarter' ? 3 : 12));
    start = next.toISOString().slice(0, 10);
  }
  return labels;
}
