/**
 * When a job runs: `every 15m` (s, m, h, d), `daily 02:30` (local time in
 * the configured zone), or `off`. Written as one string so a schedule is one
 * config value (`TILLIT_JOBS__SCHEDULE__MAIL_SENDER=every 30s`).
 */
export type Schedule = { readonly kind: 'every'; readonly ms: number } | { readonly kind: 'daily'; readonly hour: number; readonly minute: number } | { readonly kind: 'off' };

export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const EVERY = /^every\s+(\d{1,6})\s*([smhd])$/;
const DAILY = /^daily\s+([01]\d|2[0-3]):([0-5]\d)$/;

export function parseSchedule(text: string): Schedule {
  const trimmed = text.trim();
  if (trimmed === 'off') return { kind: 'off' };
  const every = EVERY.exec(trimmed);
  if (every) {
    const ms = Number(every[1]) * UNIT_MS[every[2]!]!;
    if (ms < 1_000) throw new ScheduleError(`${JSON.stringify(text)}: an interval must be at least 1s`);
    return { kind: 'every', ms };
  }
  const daily = DAILY.exec(trimmed);
  if (daily) return { kind: 'daily', hour: Number(daily[1]), minute: Number(daily[2]) };
  throw new ScheduleError(`${JSON.stringify(text)} is not a schedule: expected 'every N' with s, m, h or d (every 15m), 'daily HH:MM' (daily 02:30) or 'off'`);
}

/**
 * Whether a job is due at `now`. An interval job is due at once when it has
 * never run, then `ms` after its last scheduled start; a daily job at the
 * first HH:MM (in `timeZone`) after its last start, or after the job was
 * first seen, so installing a nightly job does not run it in the afternoon.
 */
export function isDue(schedule: Schedule, lastScheduledAt: Date | null, firstSeenAt: Date, now: Date, timeZone: string): boolean {
  const next = nextRun(schedule, lastScheduledAt, firstSeenAt, timeZone);
  return next !== undefined && next.getTime() <= now.getTime();
}

/** The next time the job is due; undefined for `off`. */
export function nextRun(schedule: Schedule, lastScheduledAt: Date | null, firstSeenAt: Date, timeZone: string): Date | undefined {
  if (schedule.kind === 'off') return undefined;
  if (schedule.kind === 'every') return lastScheduledAt ? new Date(lastScheduledAt.getTime() + schedule.ms) : firstSeenAt;
  return nextDailyAfter(lastScheduledAt ?? firstSeenAt, schedule.hour, schedule.minute, timeZone);
}

/** The first instant after `after` whose wall-clock time in `timeZone` is hour:minute (DST-aware). */
export function nextDailyAfter(after: Date, hour: number, minute: number, timeZone: string): Date {
  const local = wallClock(after, timeZone);
  for (let dayOffset = 0; dayOffset <= 2; dayOffset++) {
    const day = new Date(Date.UTC(local.year, local.month - 1, local.day + dayOffset));
    const candidate = instantOf(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), hour, minute, timeZone);
    if (candidate.getTime() > after.getTime()) return candidate;
  }
  throw new Error('unreachable: a wall-clock time recurs within two days');
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

function wallClock(at: Date, timeZone: string): WallClock {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute') };
}

/** The UTC instant of a local wall-clock time; a time skipped by a DST change lands just after the gap. */
function instantOf(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  let guess = asUtc;
  // Two corrections settle the zone offset, also across a DST change.
  for (let i = 0; i < 2; i++) {
    const seen = wallClock(new Date(guess), timeZone);
    guess += asUtc - Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute);
  }
  return new Date(guess);
}

/** A valid IANA time zone name. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
