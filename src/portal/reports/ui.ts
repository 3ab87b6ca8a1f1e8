import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rememberLocale, sendPage } from '../../server/index.ts';
import type { Database, EphemeralStore } from '../../store/index.ts';
import { defineMessages, html, renderPage, type Locale, type SafeHtml } from '../../web/index.ts';
import { loadActor } from '../access.ts';
import { HTTP_STATUS, PortalRefused } from '../errors.ts';
import type { Actor } from '../roles.ts';
import { portalSessions, type PortalSession } from '../ui/session.ts';
import { reportAnswer } from './api.ts';
import { barChart, barsOf } from './chart.ts';
import { EVENT_DIMENSIONS, LISTING_LIMIT_DEFAULT, LISTING_LIMIT_MAX, PERIODS, STATUS_DIMENSIONS, VIEWS, parseReportRequest, type RawParameters } from './parameters.ts';
import { runReport, type Report } from './report.ts';
import { FileAnswer } from '../api/file-answer.ts';

const messages = defineMessages({
  sv: {
    title: 'Rapporter',
    intro: 'Statusrapporten visar organisationens e-legitimationer just nu; händelserapporten vad som hänt dem mellan två dagar. Välj antal eller en fullständig lista.',
    noScope: 'Du har ingen roll som får se rapporter (ansvarig eller biträdande utgivare, säkerhetsansvarig).',
    report: 'Rapport',
    'report.status': 'Status (nu)',
    'report.events': 'Händelser (historik)',
    organisation: 'Organisation',
    unit: 'Enhet (HSA-id, valfri: enheten och enheterna under den)',
    by: 'Gruppera efter',
    per: 'Per period',
    perNone: 'Hela perioden',
    from: 'Från och med',
    to: 'Till och med',
    view: 'Visa',
    limit: 'Högst antal rader i en lista (CSV-filen får alla, sidan visar 500)',
    'view.counts': 'Antal',
    'view.listing': 'Fullständig lista',
    show: 'Visa rapporten',
    csv: 'Ladda ner som CSV',
    chart: 'Diagram',
    table: 'Tabell',
    total: 'Totalt',
    truncated: 'Fler rader finns än som visas: CSV-filen har alla upp till gränsen; höj gränsen för fler.',
    empty: 'Inget att visa för det valda urvalet.',
    statusOnly: 'Gäller statusrapporten',
    eventsOnly: 'Gäller händelserapporten',
    'dim.type': 'typ',
    'dim.loa': 'tillitsnivå',
    'dim.status': 'status',
    'dim.reason': 'orsak',
    'dim.unit': 'enhet',
    'dim.event': 'händelse',
    'dim.period': 'period',
    'per.week': 'vecka',
    'per.month': 'månad',
    'per.quarter': 'kvartal',
    'per.year': 'år',
    'v.ordinary-card': 'vanligt kort',
    'v.reserve-card': 'reservkort',
    'v.test-card': 'testkort',
    'v.function-certificate': 'funktionscertifikat',
    'v.mobile-eid': 'mobilt eID',
    'v.enrolled': 'registrerat',
    'v.awaiting-confirmation': 'väntar på bekräftelse',
    'v.ordered': 'beställt',
    'v.in-production': 'i produktion',
    'v.sent': 'skickat',
    'v.active': 'aktivt',
    'v.revoked': 'spärrat',
    'v.withdrawn': 'återkallat',
    'v.expired': 'utgånget',
    'v.confirmed': 'bekräftat',
    'v.produced': 'producerat',
    'v.activated': 'aktiverat',
    'v.deleted': 'raderat',
    'v.issued': 'utfärdat',
    'v.lost': 'förlorat',
    'v.stolen': 'stulet',
    'v.suspected-misuse': 'misstänkt missbruk',
    'v.employment-ended': 'anställningen upphört',
    'v.replaced': 'ersatt',
    'v.damaged': 'skadat',
    'v.not-activated': 'aldrig aktiverat',
  },
  en: {
    title: 'Reports',
    intro: "The status report shows the organisation's eIDs now; the event report what happened to them between two days. Choose counts or a full listing.",
    noScope: 'You hold no role that may see reports (responsible or deputy issuer, security officer).',
    report: 'Report',
    'report.status': 'Status (now)',
    'report.events': 'Events (history)',
    organisation: 'Organisation',
    unit: 'Unit (HSA-id, optional: the unit and the units below it)',
    by: 'Group by',
    per: 'Per period',
    perNone: 'The whole range',
    from: 'From',
    to: 'To (included)',
    view: 'Show',
    limit: 'At most this many rows in a listing (the CSV gets them all, the page shows 500)',
    'view.counts': 'Counts',
    'view.listing': 'Full listing',
    show: 'Show the report',
    csv: 'Download as CSV',
    chart: 'Chart',
    table: 'Table',
    total: 'Total',
    truncated: 'There are more rows than shown: the CSV file has all up to the limit; raise the limit for more.',
    empty: 'Nothing to show for this selection.',
    statusOnly: 'For the status report',
    eventsOnly: 'For the event report',
    'dim.type': 'type',
    'dim.loa': 'LoA',
    'dim.status': 'status',
    'dim.reason': 'reason',
    'dim.unit': 'unit',
    'dim.event': 'event',
    'dim.period': 'period',
    'per.week': 'week',
    'per.month': 'month',
    'per.quarter': 'quarter',
    'per.year': 'year',
    'v.ordinary-card': 'ordinary card',
    'v.reserve-card': 'reserve card',
    'v.test-card': 'test card',
    'v.function-certificate': 'function certificate',
    'v.mobile-eid': 'mobile eID',
    'v.enrolled': 'enrolled',
    'v.awaiting-confirmation': 'awaiting confirmation',
    'v.ordered': 'ordered',
    'v.in-production': 'in production',
    'v.sent': 'sent',
    'v.active': 'active',
    'v.revoked': 'revoked',
    'v.withdrawn': 'withdrawn',
    'v.expired': 'expired',
    'v.confirmed': 'confirmed',
    'v.produced': 'produced',
    'v.activated': 'activated',
    'v.deleted': 'deleted',
    'v.issued': 'issued',
    'v.lost': 'lost',
    'v.stolen': 'stolen',
    'v.suspected-misuse': 'suspected misuse',
    'v.employment-ended': 'employment ended',
    'v.replaced': 'replaced',
    'v.damaged': 'damaged',
    'v.not-activated': 'never activated',
  },
});
type T = ReturnType<typeof messages>;
type Key = Parameters<T>[0];

const MAX_SESSION_MS = 12 * 3_600_000;
/** A page shows at most this many listing rows; the CSV download carries the whole listing (up to its limit). */
const PAGE_ROWS = 500;
const REPORTING_ROLES = new Set(['responsible-issuer', 'deputy-issuer', 'security-officer']);

export interface ReportUiDependencies {
  readonly db: Database;
  readonly ephemeral: EphemeralStore;
  readonly now: () => Date;
  readonly idleMs: number;
  readonly trainingValidForDays: number;
}

/** The query string as raw report parameters; a repeated `by` (checkboxes) becomes one comma-separated list. */
function parameters(query: Record<string, unknown>): RawParameters {
  const raw: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(query)) {
    const values = [value].flat().map(String);
    raw[name] = name === 'by' ? values.join(',') : values[0];
  }
  return raw;
}

function page(locale: Locale, currentUrl: string, session: PortalSession, body: SafeHtml, error: string | null): string {
  const t = messages(locale);
  return renderPage({
    locale,
    title: t('title'),
    currentUrl,
    body: html`<nav class="tillit-portal-nav" aria-label="eID"><a class="ds-link" href="/portal">eID</a> · <a class="ds-link" href="/portal/reports" aria-current="page">${t('title')}</a> · <span>${session.name} (${session.hsaId})</span></nav>
${error ? html`<div class="ds-alert" data-color="danger" role="alert"><p class="ds-paragraph">${error}</p></div>` : ''}
<h1 class="ds-heading" data-size="lg">${t('title')}</h1>
${body}`,
  });
}

function form(t: T, actor: Actor, raw: RawParameters, today: string): SafeHtml {
  const organisations = [...new Set(actor.assignments.filter((a) => REPORTING_ROLES.has(a.role)).map((a) => a.organisation))];
  const report = raw['report'] === 'events' ? 'events' : 'status';
  const chosen = new Set((raw['by'] ?? '').split(',').filter(Boolean));
  const checked = (d: string) => (chosen.size ? chosen.has(d) : report === 'status' ? d === 'type' || d === 'status' : d === 'event');
  const dims = [...new Set([...STATUS_DIMENSIONS, ...EVENT_DIMENSIONS])];
  const field = (id: string, label: string, input: SafeHtml) => html`<div class="ds-field"><label class="ds-label" for="${id}">${label}</label>${input}</div>`;
  const yearAgo = `${Number(today.slice(0, 4)) - 1}${today.slice(4)}`;
  return html`<form method="get" action="/portal/reports" class="tillit-form" aria-label="${t('title')}">
<fieldset class="ds-fieldset"><legend class="ds-label">${t('report')}</legend>
${(['status', 'events'] as const).map((r) => html`<div class="ds-field"><input class="ds-input" type="radio" id="report-${r}" name="report" value="${r}"${raw['report'] === r || (!raw['report'] && r === 'status') ? html` checked` : ''}><label class="ds-label" for="report-${r}">${t(`report.${r}`)}</label></div>`)}
</fieldset>
${field('organisation', t('organisation'), html`<select class="ds-input" id="organisation" name="organisation" required>${organisations.map((o) => html`<option value="${o}"${raw['organisation'] === o ? html` selected` : ''}>${o}</option>`)}</select>`)}
${field('unit', t('unit'), html`<input class="ds-input" id="unit" name="unit" maxlength="31" value="${raw['unit'] ?? ''}">`)}
<fieldset class="ds-fieldset"><legend class="ds-label">${t('by')}</legend>
${dims.map(
  (d) => html`<div class="ds-field"><input class="ds-input" type="checkbox" id="by-${d}" name="by" value="${d}"${checked(d) ? html` checked` : ''}><label class="ds-label" for="by-${d}">${t(`dim.${d}` as Key)}${
    d === 'status' ? html` (${t('statusOnly')})` : d === 'event' ? html` (${t('eventsOnly')})` : ''
  }</label></div>`,
)}
</fieldset>
<fieldset class="ds-fieldset"><legend class="ds-label">${t('eventsOnly')}</legend>
${field('from', t('from'), html`<input class="ds-input" id="from" name="from" type="date" value="${raw['from'] ?? yearAgo}">`)}
${field('to', t('to'), html`<input class="ds-input" id="to" name="to" type="date" value="${raw['to'] ?? today}">`)}
${field('per', t('per'), html`<select class="ds-input" id="per" name="per"><option value="">${t('perNone')}</option>${PERIODS.map((p) => html`<option value="${p}"${raw['per'] === p ? html` selected` : ''}>${t(`per.${p}`)}</option>`)}</select>`)}
</fieldset>
${field('view', t('view'), html`<select class="ds-input" id="view" name="view">${VIEWS.map((v) => html`<option value="${v}"${raw['view'] === v ? html` selected` : ''}>${t(`view.${v}`)}</option>`)}</select>`)}
${field('limit', t('limit'), html`<input class="ds-input" id="limit" name="limit" type="number" min="1" max="${LISTING_LIMIT_MAX}" value="${raw['limit'] ?? LISTING_LIMIT_DEFAULT}">`)}
<button class="ds-button" data-variant="primary" type="submit">${t('show')}</button></form>`;
}

/** Keeps only what the chosen report takes: the status form also carries from/to/per, which it ignores. */
function relevant(raw: RawParameters): RawParameters {
  const report = raw['report'] === 'events' ? 'events' : 'status';
  const allowed = report === 'events' ? EVENT_DIMENSIONS : STATUS_DIMENSIONS;
  const by = (raw['by'] ?? '')
    .split(',')
    .filter((d) => d && ((allowed as readonly string[]).includes(d) || !([...STATUS_DIMENSIONS, ...EVENT_DIMENSIONS] as string[]).includes(d)))
    .join(',');
  const { from, to, per, ...rest } = raw;
  return { ...rest, report, by, ...(report === 'events' ? { from, to, per } : {}) };
}

/** A value in the page's language where it is one of the reports' codes (the CSV and the API keep the codes); the code stays in data-code. */
function cell(t: T, value: string | number | null | undefined): SafeHtml {
  if (value === null || value === undefined) return html`<td>–</td>`;
  const label = typeof value === 'string' ? (t(`v.${value}` as Key) as string | undefined) : undefined;
  return label ? html`<td data-code="${value}">${label}</td>` : html`<td>${value}</td>`;
}

function result(t: T, report: Report, csvHref: string): SafeHtml {
  const header = (c: string) => t(`dim.${c}` as Key) ?? c;
  const shown = report.view === 'listing' ? report.rows.slice(0, PAGE_ROWS) : report.rows;
  const table = html`<div class="tillit-report-table"><table class="ds-table" id="report-table" data-report="${report.report}" data-view="${report.view}">
<caption>${t(`report.${report.report}`)} · ${report.unit ?? report.organisation}${report.from ? ` · ${report.from} – ${report.to}` : ''}</caption>
<thead><tr>${report.columns.map((c) => html`<th scope="col">${c === 'count' ? t('total') : header(c)}</th>`)}</tr></thead>
<tbody>${shown.map((row) => html`<tr>${report.columns.map((c) => cell(t, row[c]))}</tr>`)}</tbody>
${report.total !== undefined ? html`<tfoot><tr><th scope="row" colspan="${report.columns.length - 1}">${t('total')}</th><td data-total>${report.total}</td></tr></tfoot>` : ''}
</table></div>`;
  return html`<h2 class="ds-heading" data-size="md">${t(`report.${report.report}`)}</h2>
<p><a class="ds-link" href="${csvHref}" download>${t('csv')}</a></p>
${report.rows.length === 0 ? html`<p class="ds-paragraph">${t('empty')}</p>` : ''}
${report.view === 'counts' && report.rows.length ? html`<h3 class="ds-heading" data-size="sm">${t('chart')}</h3>${barChart(barsOf(report, (v) => (typeof v === 'string' ? ((t(`v.${v}` as Key) as string | undefined) ?? v) : String(v))), { title: 'report-chart-title', table: 'report-table' }, `${t(`report.${report.report}`)} – ${report.unit ?? report.organisation}`)}` : ''}
<h3 class="ds-heading" data-size="sm">${t('table')}</h3>
${table}
${report.truncated || shown.length < report.rows.length ? html`<p class="ds-paragraph" role="status">${t('truncated')}</p>` : ''}`;
}

/**
 * The report pages: a GET form (reading changes nothing, so no CSRF token is
 * needed; the session cookie is SameSite=Lax), the report as a chart and a
 * table, and the same report as a CSV download. The role check is
 * runReport's, the same as the API's.
 */
export function reportUiRoutes(deps: ReportUiDependencies) {
  const sessions = portalSessions(deps.ephemeral, deps.idleMs, MAX_SESSION_MS, () => deps.now().getTime());
  return async (app: FastifyInstance) => {
    const signedIn = async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await sessions.read(request, reply);
      if (!found) reply.redirect('/portal?expired=1', 303);
      return found;
    };
    const today = () => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm' }).format(deps.now());

    app.get('/portal/reports', async (request, reply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      const locale = rememberLocale(request, reply);
      const t = messages(locale);
      const actor = await loadActor(deps.db, found.session.hsaId, deps.now(), deps.trainingValidForDays);
      const raw = parameters(request.query as Record<string, unknown>);
      const chosen = relevant(raw);
      let shown: SafeHtml = html``;
      let error: string | null = null;
      if (raw['organisation']) {
        try {
          const report = await runReport(deps.db, actor, parseReportRequest(chosen['report']!, chosen), deps.now());
          const csvHref = `/portal/reports.csv?${new URLSearchParams(Object.entries(chosen).filter((e): e is [string, string] => !!e[1])).toString()}`;
          shown = result(t, report, csvHref);
        } catch (error_) {
          if (!(error_ instanceof PortalRefused)) throw error_;
          if (error_.kind === 'forbidden') request.log.info({ decision: 'portal forbidden', actor: found.session.hsaId, url: request.url }, error_.message);
          reply.code(HTTP_STATUS[error_.kind]);
          error = error_.message;
        }
      }
      const scoped = actor.assignments.some((a) => REPORTING_ROLES.has(a.role));
      const body = html`<p class="ds-paragraph">${t('intro')}</p>
${scoped ? form(t, actor, raw, today()) : html`<p class="ds-paragraph">${t('noScope')}</p>`}
${shown}`;
      return sendPage(reply, page(locale, request.url, found.session, body, error));
    });

    app.get('/portal/reports.csv', async (request, reply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      const actor = await loadActor(deps.db, found.session.hsaId, deps.now(), deps.trainingValidForDays);
      const chosen = relevant(parameters(request.query as Record<string, unknown>));
      try {
        const answer = reportAnswer(await runReport(deps.db, actor, parseReportRequest(chosen['report']!, chosen), deps.now()), 'csv') as FileAnswer;
        return reply.type(answer.type).header('content-disposition', `attachment; filename="${answer.fileName}"`).header('cache-control', 'no-store').send(answer.body);
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        if (error.kind === 'forbidden') request.log.info({ decision: 'portal forbidden', actor: found.session.hsaId, url: request.url }, error.message);
        return reply.code(HTTP_STATUS[error.kind]).type('text/plain; charset=utf-8').send(error.message);
      }
    });
  };
}
