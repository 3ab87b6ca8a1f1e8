import type { Locale } from '../../web/index.ts';
import { ASSET_PATHS, html, renderPage, type SafeHtml } from '../../web/index.ts';
import { CARD_KINDS } from '../cards/eligibility.ts';
import { DOCUMENT_TYPES, SEVEN_STEPS } from '../cards/identity-check.ts';
import type { ExportedBatch } from '../cards/production.ts';
import type { Card } from '../cards/store.ts';
import { REVOCATION_CAUSES, REVOCATION_CHANNELS } from '../cards/revocation.ts';
import type { PersonHit, PersonPage, UnknownHolderCertificate } from '../person-view.ts';
import type { RemovalSuggestion } from '../jobs/stale-roles.ts';
import type { Actor } from '../roles.ts';
import { messages } from './messages.ts';
import type { PortalSession } from './session.ts';

type T = ReturnType<typeof messages>;
type Key = Parameters<T>[0];

interface Frame {
  readonly locale: Locale;
  readonly currentUrl: string;
  readonly session: PortalSession | null;
}

function page(frame: Frame, title: string, body: SafeHtml): string {
  const t = messages(frame.locale);
  const flash = frame.session?.flash;
  return renderPage({
    locale: frame.locale,
    title,
    currentUrl: frame.currentUrl,
    body: html`${
      frame.session
        ? html`<nav class="tillit-portal-nav" aria-label="${t('title')}"><a class="ds-link" href="/portal">${t('title')}</a> · <a class="ds-link" href="/portal/production">${t('production')}</a> · <a class="ds-link" href="/portal/unknown-holders">${t('unknownHolders')}</a> · <a class="ds-link" href="/portal/reports">${t('reports')}</a> ·
<span>${t('signedInAs')} ${frame.session.name} (${frame.session.hsaId})</span>
<form method="post" action="/portal/logout" class="tillit-inline">${csrf(frame.session)}<button class="ds-button" data-variant="tertiary" type="submit">${t('signOut')}</button></form></nav>`
        : ''
    }
${flash ? html`<div class="ds-alert" data-color="${flash.kind === 'ok' ? 'success' : 'danger'}" role="${flash.kind === 'ok' ? 'status' : 'alert'}"><p class="ds-paragraph">${flash.text}</p></div>` : ''}
<h1 class="ds-heading" data-size="lg">${title}</h1>
${body}`,
  });
}

const csrf = (session: PortalSession) => html`<input type="hidden" name="_csrf" value="${session.csrf}">`;
const field = (id: string, label: string, input: SafeHtml) => html`<div class="ds-field"><label class="ds-label" for="${id}">${label}</label>${input}</div>`;
const select = (id: string, name: string, options: readonly [string, string][]) =>
  html`<select class="ds-input" id="${id}" name="${name}" required>${options.map(([value, label]) => html`<option value="${value}">${label}</option>`)}</select>`;

export function signInPage(frame: Frame, notice: string | null): string {
  const t = messages(frame.locale);
  return page(
    frame,
    t('title'),
    html`${notice ? html`<div class="ds-alert" data-color="warning" role="alert"><p class="ds-paragraph">${notice}</p></div>` : ''}
<p class="ds-paragraph">${t('intro')}</p>
<p><a class="ds-button" data-variant="primary" href="/portal/login">${t('signIn')}</a></p>`,
  );
}

export function homePage(frame: Frame & { session: PortalSession }, actor: Actor, removals: readonly RemovalSuggestion[] = []): string {
  const t = messages(frame.locale);
  return page(
    frame,
    t('title'),
    html`${searchForm(t, '')}
<h2 class="ds-heading" data-size="md">${t('yourRoles')}</h2>
${
  actor.assignments.length
    ? html`<ul>${actor.assignments.map((a) => html`<li>${a.role} · ${a.unit ?? a.organisation}${a.trainedOn ? html` · ${a.trainedOn.toISOString().slice(0, 10)}` : ''}</li>`)}</ul>`
    : html`<p class="ds-paragraph">${t('noRoles')}</p>`
}
${
  removals.length
    ? html`<h2 class="ds-heading" data-size="md">${t('roleRemovals')}</h2><p class="ds-paragraph">${t('roleRemovalsIntro')}</p>
<table class="ds-table" data-role-removals><thead><tr><th scope="col">ID</th><th scope="col">HSA-id</th><th scope="col">${t('role')}</th><th scope="col">${t('organisation')}</th><th scope="col">${t('reason')}</th><th scope="col">${t('suggestedSince')}</th></tr></thead><tbody>
${removals.map((r) => html`<tr><td>${r.assignment.id}</td><td>${r.assignment.holder}</td><td>${r.assignment.role}</td><td>${r.assignment.unit ?? r.assignment.organisation}</td><td>${t(`removal.${r.reason}`)}</td><td>${r.since.toISOString().slice(0, 10)}</td></tr>`)}
</tbody></table>`
    : ''
}`,
  );
}

function searchForm(t: T, query: string): SafeHtml {
  return html`<form method="get" action="/portal/persons" role="search">
${field('q', t('searchLabel'), html`<input class="ds-input" id="q" name="q" value="${query}" minlength="2" maxlength="100" required autofocus>`)}
<button class="ds-button" data-variant="primary" type="submit">${t('searchButton')}</button></form>`;
}

export function searchPage(frame: Frame & { session: PortalSession }, query: string, hits: readonly PersonHit[]): string {
  const t = messages(frame.locale);
  return page(
    frame,
    t('search'),
    html`${searchForm(t, query)}
${
  hits.length
    ? html`<table class="ds-table"><thead><tr><th scope="col">${t('name')}</th><th scope="col">${t('personnummer')}</th><th scope="col">${t('serviceIdentities')}</th></tr></thead><tbody>
${hits.map((h) => html`<tr><td><a class="ds-link" href="/portal/persons/${h.personnummer}">${h.givenName} ${h.surname}</a></td><td>${h.personnummer}</td><td>${h.serviceIdentities.map((s) => `${s.hsaId} (${s.organisationName})`).join(', ')}</td></tr>`)}
</tbody></table>`
    : html`<p class="ds-paragraph">${t('noHits')}</p>`
}`,
  );
}

export function personPage(frame: Frame & { session: PortalSession }, view: PersonPage): string {
  const t = messages(frame.locale);
  const { person } = view;
  const s = frame.session;
  const identities = person.serviceIdentities;
  return page(
    frame,
    `${person.givenName} ${person.surname}`,
    html`<p class="ds-paragraph">${t('personnummer')}: <strong>${person.personnummer}</strong></p>
<h2 class="ds-heading" data-size="md">${t('serviceIdentities')}</h2>
<table class="ds-table"><thead><tr><th scope="col">HSA-id</th><th scope="col">${t('organisation')}</th><th scope="col">${t('unit')}</th><th scope="col">${t('commissions')}</th></tr></thead><tbody>
${identities.map((si) => html`<tr><td>${si.hsaId}</td><td>${si.organisation.name}</td><td>${si.unit?.name ?? ''}</td><td>${si.commissions.map((c) => c.name).join(', ')}</td></tr>`)}
</tbody></table>
<h2 class="ds-heading" data-size="md">${t('eids')}</h2>
${view.cards.length ? view.cards.map((card) => cardSection(t, s, card)) : html`<p class="ds-paragraph">${t('noCards')}</p>`}
${view.cards.length ? html`<p class="ds-paragraph" data-third-party-note>${view.thirdPartyNote[frame.locale === 'en' ? 'en' : 'sv']}</p>` : ''}
<h2 class="ds-heading" data-size="md">${t('mobileEids')}</h2>
${
  view.mobileEids.length
    ? html`<table class="ds-table" data-mobile-eids><thead><tr><th scope="col">${t('serial')}</th><th scope="col">${t('enrolled')}</th><th scope="col">${t('status')}</th></tr></thead><tbody>
${view.mobileEids.map((m) => html`<tr><td><code>${m.serial}</code>${m.deviceLabel ? ` (${m.deviceLabel})` : ''}</td><td>${m.enrolledAt.toISOString().slice(0, 10)}</td><td data-mobile-status="${m.status}">${t(`mobile.${m.status}` as Key)}</td></tr>`)}
</tbody></table>`
    : html`<p class="ds-paragraph">${t('noMobileEids')}</p>`
}
${
  identities.length
    ? html`<h2 class="ds-heading" data-size="md">${t('order')}</h2>
<form method="post" action="/portal/orders" enctype="multipart/form-data" class="tillit-form">${csrf(s)}
<input type="hidden" name="personnummer" value="${person.personnummer}">
${field('holder', t('holder'), select('holder', 'holder', identities.map((si) => [si.hsaId, `${si.hsaId} (${si.organisation.name})`])))}
${field('kind', t('kind'), select('kind', 'kind', CARD_KINDS.map((k) => [k, t(`kind.${k}` as Key)])))}
${field('loa', t('loa'), select('loa', 'loa', [['3', 'LoA 3'], ['2', 'LoA 2'], ['', '–']]))}
${field('photo', t('photo'), html`<input class="ds-input" id="photo" name="photo" type="file" accept="image/jpeg,image/png">`)}
${field('office', t('office'), html`<input class="ds-input" id="office" name="office" maxlength="31">`)}
<button class="ds-button" data-variant="primary" type="submit">${t('orderButton')}</button></form>`
    : ''
}`,
  );
}

function cardSection(t: T, s: PortalSession, card: PersonPage['cards'][number]): SafeHtml {
  const id = card.id;
  const revocable = card.certificates.some((c) => c.status !== 'revoked');
  return html`<section class="tillit-card" aria-labelledby="card-${id}">
<h3 class="ds-heading" data-size="sm" id="card-${id}">${t('card')} ${id}: ${t(`kind.${card.kind}` as Key)}${card.loa ? ` (LoA ${card.loa})` : ''} – <span data-card-status="${card.status}">${t(`status.${card.status}` as Key)}</span></h3>
${card.cardNumber ? html`<p class="ds-paragraph">${t('cardNumber')}: ${card.cardNumber}</p>` : ''}
${
  card.certificates.length
    ? html`<table class="ds-table"><thead><tr><th scope="col">${t('certificates')}</th><th scope="col">${t('serial')}</th><th scope="col">${t('status')}</th></tr></thead><tbody>
${card.certificates.map((c) => html`<tr><td>${c.profile}</td><td><code>${c.serial}</code></td><td data-certificate-status="${c.status}">${t(`cert.${c.status}` as Key)}${c.invalidityDate ? ` (${c.invalidityDate.toISOString()})` : ''}</td></tr>`)}
</tbody></table>`
    : ''
}
${card.status === 'awaiting-confirmation' ? postButton(s, `/portal/orders/${id}/confirm`, t('confirm')) : ''}
${['awaiting-confirmation', 'ordered', 'in-production'].includes(card.status) ? postButton(s, `/portal/orders/${id}/withdraw`, t('withdraw')) : ''}
${card.status === 'sent' ? handOutForm(t, s, card) : ''}
${card.status === 'active' ? unlockLink(t, id) : ''}
${revocable && card.status !== 'withdrawn' ? revocationForm(t, s, id) : ''}
</section>`;
}

const postButton = (s: PortalSession, action: string, label: string, variant: 'primary' | 'secondary' | 'tertiary' = 'secondary') =>
  html`<form method="post" action="${action}" class="tillit-inline">${csrf(s)}<button class="ds-button" data-variant="${variant}" type="submit">${label}</button></form>`;

function handOutForm(t: T, s: PortalSession, card: PersonPage['cards'][number]): SafeHtml {
  const id = card.id;
  return html`<form method="post" action="/portal/cards/${id}/hand-out" class="tillit-form">${csrf(s)}
<fieldset class="ds-fieldset"><legend class="ds-heading" data-size="xs">${t('handOut')}</legend>
<p class="ds-paragraph">${t('handOutIntro')}</p>
${field(`card-number-${id}`, t('cardNumber'), html`<input class="ds-input" id="card-number-${id}" name="cardNumber" required pattern="[0-9A-Z]{8,24}">`)}
${field(`presented-${id}`, t('presentedPersonnummer'), html`<input class="ds-input" id="presented-${id}" name="personnummer" required pattern="\\d{12}" inputmode="numeric">`)}
${field(`doc-type-${id}`, t('documentType'), select(`doc-type-${id}`, 'documentType', DOCUMENT_TYPES.map((d) => [d, t(`doc.${d}` as Key)])))}
${field(`doc-number-${id}`, t('documentNumber'), html`<input class="ds-input" id="doc-number-${id}" name="documentNumber" required maxlength="30">`)}
${field(`doc-expiry-${id}`, t('documentExpiresOn'), html`<input class="ds-input" id="doc-expiry-${id}" name="documentExpiresOn" type="date" required>`)}
${SEVEN_STEPS.map((step) => html`<div class="ds-field"><input class="ds-input" type="checkbox" id="step-${id}-${step}" name="step" value="${step}"><label class="ds-label" for="step-${id}-${step}">${t(`step.${step}` as Key)}</label></div>`)}
<button class="ds-button" data-variant="primary" type="submit">${t('handOut')}</button></fieldset></form>`;
}

/** Unlock at the desk has its own page: the holder's login, then the card's code. */
const unlockLink = (t: T, id: number) => html`<p><a class="ds-button" data-variant="secondary" href="/portal/cards/${id}/unlock">${t('unlock')}</a></p>`;

export type UnlockHint = Extract<Key, `unlockHint.${string}`>;

/** Where the holder's unlock login stands, as the unlock page shows it. */
export type UnlockState =
  | { readonly step: 'start' }
  | { readonly step: 'pending'; readonly qr: string; readonly autoStartLink: string; readonly hint: UnlockHint }
  | { readonly step: 'failed'; readonly hint: UnlockHint }
  | { readonly step: 'approved'; readonly name: string; readonly personnummer: string; readonly holderMatches: boolean };

/**
 * Unlocking a PIN-blocked card at the desk, in two steps on one page: the
 * holder's mobile eID login (the QR code and its status refresh with the
 * login page's script; without it, a Continue link reloads), then the card's
 * unlock code. The response is shown on the page the code is posted to.
 */
export function unlockPage(frame: Frame & { session: PortalSession }, card: Card, state: UnlockState): string {
  const t = messages(frame.locale);
  const s = frame.session;
  const base = `/portal/cards/${card.id}/unlock`;
  const start = postButton(s, `${base}/login`, state.step === 'start' ? t('unlockLogin') : t('unlockAgain'), 'primary');
  const step1 =
    state.step === 'start'
      ? start
      : state.step === 'pending'
        ? html`<div id="tillit-login" data-status-url="${base}/status">
<p class="ds-paragraph">${t('unlockScan')}</p>
<p><img id="tillit-qr" src="${state.qr}" alt="${t('unlockQrAlt')}" width="240" height="240"></p>
<p class="ds-paragraph" id="tillit-hint" role="status" aria-live="polite">${t(state.hint)}</p>
<p id="tillit-retry" hidden><a class="ds-button" data-variant="primary" href="${base}">${t('unlockAgain')}</a></p>
<p><a class="ds-button" data-variant="secondary" id="tillit-same-device" href="${state.autoStartLink}">${t('unlockSameDevice')}</a></p>
<p id="tillit-collect" data-without-script><a class="ds-button" data-variant="secondary" href="${base}">${t('unlockContinue')}</a></p>
${postButton(s, `${base}/cancel`, t('unlockCancel'), 'tertiary')}
</div>
<script src="${ASSET_PATHS.qrPoll}"></script>`
        : state.step === 'failed'
          ? html`<div class="ds-alert" data-color="warning" role="alert"><p class="ds-paragraph">${t(state.hint)}</p></div>${start}`
          : html`<p class="ds-paragraph" data-unlock-login>${t('unlockLoggedIn')} <strong>${state.name}</strong> (${state.personnummer})</p>
${state.holderMatches ? '' : html`<div class="ds-alert" data-color="danger" role="alert"><p class="ds-paragraph">${t('unlockOtherPerson')}</p></div>${start}`}`;
  const step2 =
    state.step === 'approved' && state.holderMatches
      ? html`<form method="post" action="${base}" class="tillit-form">${csrf(s)}
<div class="ds-field"><label class="ds-label" for="unlock-challenge">${t('unlockChallenge')}</label>
<p class="ds-paragraph" id="unlock-challenge-help">${t('unlockChallengeHelp')}</p>
<input class="ds-input" id="unlock-challenge" name="challenge" required maxlength="200" autocomplete="off" spellcheck="false" autocapitalize="off" aria-describedby="unlock-challenge-help" autofocus></div>
<button class="ds-button" data-variant="primary" type="submit">${t('unlockAnswer')}</button></form>`
      : html`<p class="ds-paragraph">${t('unlockStep2Later')}</p>`;
  return page(
    frame,
    `${t('unlockTitle')} ${card.id}`,
    html`<p class="ds-paragraph">${t('card')} ${card.id}: ${t(`kind.${card.kind}` as Key)}${card.cardNumber ? `, ${t('cardNumberShort')} ${card.cardNumber}` : ''} · ${t('personnummer')} ${card.personnummer}</p>
<p class="ds-paragraph">${t('unlockIntro')}</p>
<section aria-labelledby="unlock-step-1"><h2 class="ds-heading" data-size="sm" id="unlock-step-1">${t('unlockStep1')}</h2>
${step1}</section>
<section aria-labelledby="unlock-step-2"><h2 class="ds-heading" data-size="sm" id="unlock-step-2">${t('unlockStep2')}</h2>
${step2}</section>
<p><a class="ds-link" href="/portal/persons/${card.personnummer}">${t('unlockDone')}</a></p>`,
  );
}

/** The response to the card's unlock code: shown once, on the answer to the post, never kept. */
export function unlockResponsePage(frame: Frame & { session: PortalSession }, card: Card, response: string): string {
  const t = messages(frame.locale);
  return page(
    frame,
    `${t('unlockTitle')} ${card.id}`,
    html`<h2 class="ds-heading" data-size="md" id="unlock-response-label">${t('unlockResponse')}</h2>
<p class="ds-paragraph" data-size="lg"><output class="tillit-wrap" id="unlock-response" aria-labelledby="unlock-response-label"><code>${response}</code></output></p>
<p class="ds-paragraph">${t('unlockResponseHelp')}</p>
<p><a class="ds-button" data-variant="primary" href="/portal/persons/${card.personnummer}">${t('unlockDone')}</a></p>`,
  );
}

function revocationForm(t: T, s: PortalSession, id: number): SafeHtml {
  return html`<form method="post" action="/portal/cards/${id}/revocations" class="tillit-form">${csrf(s)}
<fieldset class="ds-fieldset"><legend class="ds-heading" data-size="xs">${t('revoke')}</legend>
${field(`reported-${id}`, t('reportedBy'), html`<input class="ds-input" id="reported-${id}" name="reportedBy" required maxlength="200">`)}
${field(`channel-${id}`, t('channel'), select(`channel-${id}`, 'channel', REVOCATION_CHANNELS.map((c) => [c, t(`channel.${c}` as Key)])))}
${field(`received-${id}`, t('receivedAt'), html`<input class="ds-input" id="received-${id}" name="receivedAt" type="datetime-local" required>`)}
${field(`cause-${id}`, t('cause'), select(`cause-${id}`, 'cause', Object.keys(REVOCATION_CAUSES).map((c) => [c, t(`cause.${c}` as Key)])))}
${field(`note-${id}`, t('note'), html`<textarea class="ds-input" id="note-${id}" name="note" maxlength="2000"></textarea>`)}
<button class="ds-button" data-variant="primary" data-color="danger" type="submit">${t('revoke')}</button></fieldset></form>`;
}

/** Certificates in force whose holder the directory no longer knows, per organisation, with the card's revocation form. */
export function unknownHoldersPage(frame: Frame & { session: PortalSession }, found: readonly { organisation: string; certificates: readonly UnknownHolderCertificate[] }[]): string {
  const t = messages(frame.locale);
  const s = frame.session;
  return page(
    frame,
    t('unknownHolders'),
    html`<p class="ds-paragraph">${t('unknownHoldersIntro')}</p>
${found.map(
  ({ organisation, certificates }) => html`<h2 class="ds-heading" data-size="md">${organisation}</h2>
${
  certificates.length
    ? html`<table class="ds-table" data-unknown-holders="${organisation}"><thead><tr><th scope="col">${t('serial')}</th><th scope="col">${t('subject')}</th><th scope="col">${t('card')}</th></tr></thead><tbody>
${certificates.map((c) => html`<tr><td><code>${c.serial}</code></td><td>${c.subject}</td><td>${c.cardId ?? '–'}</td></tr>`)}
</tbody></table>
${[...new Set(certificates.map((c) => c.cardId).filter((id): id is number => id !== null))].map((id) => revocationForm(t, s, id))}`
    : html`<p class="ds-paragraph">${t('noUnknownHolders')}</p>`
}`,
)}`,
  );
}

export function productionPage(frame: Frame & { session: PortalSession }, organisations: readonly string[], batch: ExportedBatch | null): string {
  const t = messages(frame.locale);
  const s = frame.session;
  return page(
    frame,
    t('production'),
    html`${
      batch
        ? html`<h2 class="ds-heading" data-size="md">${t('batchCreated')}: ${batch.fileName}</h2>
<pre class="tillit-wrap" id="batch-jsonl">${batch.jsonl}</pre>
<p class="ds-paragraph">${t('signature')}:</p><pre class="tillit-wrap" id="batch-signature">${batch.signature}</pre>`
        : ''
    }
<form method="post" action="/portal/production/batches" class="tillit-form">${csrf(s)}
${field('organisation', t('organisation'), select('organisation', 'organisation', organisations.map((o) => [o, o])))}
<button class="ds-button" data-variant="primary" type="submit">${t('exportBatch')}</button></form>
<form method="post" action="/portal/production/returns" class="tillit-form">${csrf(s)}
${field('content', t('returnFile'), html`<textarea class="ds-input" id="content" name="content" rows="8" required></textarea>`)}
<button class="ds-button" data-variant="primary" type="submit">${t('importReturn')}</button></form>`,
  );
}
