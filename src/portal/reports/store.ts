import { MOBILE_EID_REPORT_VIEW } from '../../authn/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import type { Dimension, EventRequest, StatusRequest } from './parameters.ts';

/**
 * The reports' SQL: counts from the summaries the triggers of migrations 0670
 * and 0671 keep (portal_report_status, portal_report_event_day and _month), listings from the
 * cards, function certificates and the event history. Function certificates
 * and cards expire without a write, so their expiry is counted from not_after
 * (a card's: certificates_not_after, migration 0675) here. Mobile eIDs are
 * read from authn's view (migration 0311), where they were placed at enrolment;
 * they are few beside cards (at most three per person), so they are counted
 * when read, as the PKI revokes them without the portal.
 */

/** Only these names reach the SQL text: each grouping is a column of the union below. */
/** Times leave the database as text: 100,000 Date objects made and printed again cost more than the query. */
const ISO_UTC = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Read when a report runs: authn and the portal load each other, so the binding may not be set yet at module load. */
const mobileView = () => MOBILE_EID_REPORT_VIEW;
/** Mobile eIDs are LoA 3 (domain.md §2). */
const MOBILE_LOA = '3::smallint';
/** A time within the request's days ($3 to $4, Swedish calendar). */
const IN_RANGE = (column: string) => `${column} >= ($3::date)::timestamp at time zone 'Europe/Stockholm' and ${column} < ($4::date + 1)::timestamp at time zone 'Europe/Stockholm'`;
/** A card expires when its last certificate ends, if it was in use then: still active, or revoked only later. */
const CARD_EXPIRED_BY = (at: string) => `certificates_not_after <= ${at} and (status = 'active' or (status = 'revoked' and updated_at > certificates_not_after))`;
/** A mobile eID's expiry, unless it was revoked first. */
const MOBILE_EXPIRY = (at: string) => `case when m.not_after <= ${at} and (m.revoked_at is null or m.revoked_at > m.not_after) then m.not_after end`;
const MOBILE_STATUS = (at: string) => `case when revoked_at is not null then 'revoked' when not_after <= ${at} then 'expired' else 'active' end`;

const COLUMN: Readonly<Record<Dimension, string>> = { type: 'credential_type', loa: 'loa', status: 'status', event: 'event', reason: 'reason', unit: 'unit_hsa_id' };

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

/** The subtree's units, or null for the whole organisation (then function certificates, which sit in no unit, count too). */
type Units = readonly string[] | null;

export async function statusCounts(db: Queryable, request: StatusRequest, units: Units, now: Date): Promise<Row[]> {
  const dims = request.by.map((d) => COLUMN[d]);
  const select = dims.map((c, i) => `${c} as "${request.by[i]}"`).join(', ');
  const rows = await db.query<Row>(
    `with s as (
       select unit_hsa_id, credential_type, loa, status, reason, count from portal_report_status
        where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2)) and count <> 0
       union all
       select null, 'function-certificate', null, e.status, null, e.sign * x.n from (
         select count(*) as n from portal_function_certificate where organisation_hsa_id = $1 and $2::text[] is null and revoked_at is null and not_after <= $3
       ) x cross join (values ('active', -1), ('expired', 1)) as e (status, sign)
       union all
       select c.unit_hsa_id, c.kind || '-card', c.loa, e.status, null, e.sign * c.n from (
         select unit_hsa_id, kind, loa, count(*) as n from portal_card
          where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2)) and status = 'active' and certificates_not_after <= $3
          group by 1, 2, 3
       ) c cross join (values ('active', -1), ('expired', 1)) as e (status, sign)
       union all
       select unit_hsa_id, 'mobile-eid', ${MOBILE_LOA}, ${MOBILE_STATUS('$3')}, case when revoked_at is not null then revocation_reason end, 1 from ${mobileView()}
        where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2))
     )
     select ${select}${select ? ', ' : ''}sum(count)::bigint as count from s${dims.length ? ` group by ${dims.join(', ')}` : ''} having sum(count) <> 0
     ${dims.length ? `order by ${dims.join(', ')}` : ''}`,
    [request.organisation, units, now],
  );
  return rows;
}

const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
const monthStart = (day: string) => `${day.slice(0, 7)}-01`;
const nextMonth = (day: string) => {
  const date = new Date(`${monthStart(day)}T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return date.toISOString().slice(0, 10);
};

/**
 * Which summary answers which part of the range: whole months from the
 * monthly counts, the days before the first and after the last whole month
 * from the daily ones. Weeks cut across months, so they are summed from days.
 */
export function splitRange(from: string, to: string, monthsUsable: boolean): { days: [string, string][]; months: [string, string] | null } {
  const firstWhole = from.endsWith('-01') ? from : nextMonth(from);
  const endWhole = monthStart(addDays(to, 1));
  if (!monthsUsable || firstWhole >= endWhole) return { days: [[from, to]], months: null };
  const days: [string, string][] = [];
  if (from < firstWhole) days.push([from, addDays(firstWhole, -1)]);
  if (endWhole <= to) days.push([endWhole, to]);
  return { days, months: [firstWhole, endWhole] };
}

export async function eventCounts(db: Queryable, request: EventRequest, units: Units, now: Date): Promise<Row[]> {
  const dims = request.by.map((d) => COLUMN[d]);
  const groups = [...(request.per ? [`date_trunc('${request.per}', day)`] : []), ...dims];
  const select = [...(request.per ? [`to_char(date_trunc('${request.per}', day), 'YYYY-MM-DD') as period`] : []), ...dims.map((c, i) => `${c} as "${request.by[i]}"`)].join(', ');
  const { days, months } = splitRange(request.from, request.to, request.per !== 'week');
  const params: unknown[] = [request.organisation, units, request.from, request.to, now];
  const unitFilter = '($2::text[] is null or unit_hsa_id = any($2))';
  const parts = days.map(([first, last]) => {
    params.push(first, last);
    return `select day, unit_hsa_id, credential_type, loa, event, reason, count from portal_report_event_day
             where organisation_hsa_id = $1 and day between $${params.length - 1}::date and $${params.length}::date and ${unitFilter}`;
  });
  if (months) {
    params.push(months[0], months[1]);
    parts.push(`select month as day, unit_hsa_id, credential_type, loa, event, reason, count from portal_report_event_month
                 where organisation_hsa_id = $1 and month >= $${params.length - 1}::date and month < $${params.length}::date and ${unitFilter}`);
  }
  const rows = await db.query<Row>(
    `with s as (
       ${parts.join('\n       union all\n       ')}
       union all
       select (not_after at time zone 'Europe/Stockholm')::date, null, 'function-certificate', null, 'expired', null, 1 from portal_function_certificate
        where organisation_hsa_id = $1 and $2::text[] is null and (revoked_at is null or revoked_at > not_after) and not_after <= $5
          and ${IN_RANGE('not_after')}
       union all
       select (certificates_not_after at time zone 'Europe/Stockholm')::date, unit_hsa_id, kind || '-card', loa, 'expired', null, 1 from portal_card
        where organisation_hsa_id = $1 and ${unitFilter} and ${CARD_EXPIRED_BY('$5')} and ${IN_RANGE('certificates_not_after')}
       union all
       select (x.at at time zone 'Europe/Stockholm')::date, m.unit_hsa_id, 'mobile-eid', ${MOBILE_LOA}, x.event, x.reason, 1
         from ${mobileView()} m cross join lateral (values (m.enrolled_at, 'enrolled', null::text), (m.revoked_at, 'revoked', m.revocation_reason), (${MOBILE_EXPIRY('$5')}, 'expired', null)) as x (at, event, reason)
        where m.organisation_hsa_id = $1 and ${unitFilter} and ${IN_RANGE('x.at')}
     )
     select ${select}${select ? ', ' : ''}sum(count)::bigint as count from s${groups.length ? ` group by ${groups.join(', ')} order by ${groups.join(', ')}` : ''}`,
    params,
  );
  return rows.filter((r) => Number(r['count']) !== 0);
}

export interface StatusListingRow {
  type: string;
  id: string;
  loa: number | null;
  status: string;
  reason: string | null;
  unit: string | null;
  subject: string;
  personnummer: string | null;
  /** ISO 8601, UTC. */
  since: string;
}

/** Cards, then mobile eIDs, then function certificates of the organisation or subtree, oldest first, at most `limit` + 1 (to tell there were more). */
export async function statusListing(db: Database, request: StatusRequest, units: Units, now: Date): Promise<StatusListingRow[]> {
  return withoutJit(db, async (tx) => {
    const cards = await tx.query<StatusListingRow>(
      `select c.kind || '-card' as type, c.id::text as id, c.loa, c.unit_hsa_id as unit, c.holder_hsa_id as subject, c.personnummer, ${ISO_UTC('c.ordered_at')} as since,
              case when c.status = 'active' and c.certificates_not_after <= $4 then 'expired' else c.status end as status,
              case when c.status = 'revoked' then (select r.reason from portal_revocation r where r.card_id = c.id order by r.id desc limit 1) end as reason
         from portal_card c where c.organisation_hsa_id = $1 and ($2::text[] is null or c.unit_hsa_id = any($2)) order by c.id limit $3`,
      [request.organisation, units, request.limit + 1, now],
    );
    if (cards.length > request.limit) return cards;
    const mobile = await tx.query<StatusListingRow>(
      `select 'mobile-eid' as type, serial as id, ${MOBILE_LOA} as loa, unit_hsa_id as unit, holder_hsa_id as subject, personnummer, ${ISO_UTC('enrolled_at')} as since,
              ${MOBILE_STATUS('$4')} as status, case when revoked_at is not null then revocation_reason end as reason
         from ${mobileView()} where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2)) order by enrolled_at, serial limit $3`,
      [request.organisation, units, request.limit + 1 - cards.length, now],
    );
    const rows = [...cards, ...mobile];
    if (units !== null || rows.length > request.limit) return rows;
    const certificates = await tx.query<StatusListingRow>(
      `select 'function-certificate' as type, serial as id, null::smallint as loa, null as unit, function_object_hsa_id as subject, null as personnummer, ${ISO_UTC('ordered_at')} as since,
              case when revoked_at is not null then 'revoked' when not_after <= $3 then 'expired' else 'active' end as status, revocation_reason as reason
         from portal_function_certificate where organisation_hsa_id = $1 order by ordered_at, serial limit $2`,
      [request.organisation, request.limit + 1 - rows.length, now],
    );
    return [...rows, ...certificates];
  });
}

export interface EventListingRow {
  /** ISO 8601, UTC. */
  at: string;
  event: string;
  type: string;
  id: string;
  loa: number | null;
  reason: string | null;
  unit: string | null;
  subject: string;
  personnummer: string | null;
}

/** The period's events in time order, at most `limit` + 1. */
export async function eventListing(db: Database, request: EventRequest, units: Units, now: Date): Promise<EventListingRow[]> {
  return withoutJit(db, (tx) => tx.query<EventListingRow>(
    `select * from (
       (select at as instant, ${ISO_UTC('at')} as at, event, credential_type as type, coalesce(card_id::text, certificate_serial) as id, loa, reason, unit_hsa_id as unit, subject_hsa_id as subject, personnummer
          from portal_report_event
         where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2))
           and at >= ($3::date)::timestamp at time zone 'Europe/Stockholm' and at < ($4::date + 1)::timestamp at time zone 'Europe/Stockholm'
         order by instant, id limit $6)
       union all
       (select not_after, ${ISO_UTC('not_after')}, 'expired', 'function-certificate', serial, null, null, null, function_object_hsa_id, null from portal_function_certificate
         where organisation_hsa_id = $1 and $2::text[] is null and (revoked_at is null or revoked_at > not_after) and not_after <= $5
           and ${IN_RANGE('not_after')}
         order by not_after limit $6)
       union all
       (select certificates_not_after, ${ISO_UTC('certificates_not_after')}, 'expired', kind || '-card', id::text, loa, null, unit_hsa_id, holder_hsa_id, personnummer from portal_card
         where organisation_hsa_id = $1 and ($2::text[] is null or unit_hsa_id = any($2)) and ${CARD_EXPIRED_BY('$5')} and ${IN_RANGE('certificates_not_after')}
         order by certificates_not_after limit $6)
       union all
       (select x.at, ${ISO_UTC('x.at')}, x.event, 'mobile-eid', m.serial, ${MOBILE_LOA}, x.reason, m.unit_hsa_id, m.holder_hsa_id, m.personnummer
          from ${mobileView()} m cross join lateral (values (m.enrolled_at, 'enrolled', null::text), (m.revoked_at, 'revoked', m.revocation_reason), (${MOBILE_EXPIRY('$5')}, 'expired', null)) as x (at, event, reason)
         where m.organisation_hsa_id = $1 and ($2::text[] is null or m.unit_hsa_id = any($2)) and ${IN_RANGE('x.at')}
         order by x.at limit $6)
     ) e order by instant, id limit $6`,
    [request.organisation, units, request.from, request.to, now, request.limit + 1],
  ));
}

/**
 * A listing's plan looks costly (a long index range, cut by its limit), so
 * PostgreSQL would compile it first: measured, the JIT took 220 ms of a
 * 400 ms listing. Off for these reads only.
 */
function withoutJit<T>(db: Database, work: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.query('set local jit = off');
    return work(tx);
  });
}
