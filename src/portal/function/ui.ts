import { parse as parseForm } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rememberLocale, sendPage } from '../../server/index.ts';
import type { EphemeralStore } from '../../store/index.ts';
import { defineMessages, html, renderPage, type Locale, type SafeHtml } from '../../web/index.ts';
import { loadActor } from '../access.ts';
import { HTTP_STATUS, PortalRefused } from '../errors.ts';
import qrcode from 'qrcode-generator';
import { extendMyReserveCard, myEids, reportMyCardLost } from '../self-service/mine.ts';
import { myMobileEids, reportMyMobileEidLost, startMyEnrolment, type MobileSelfServiceContext } from '../self-service/mobile.ts';
import { csrfMatches, portalSessions, type PortalSession } from '../ui/session.ts';
import { certificatesOfObject, downloadFunctionCertificate, FUNCTION_PROFILES, FUNCTION_REVOCATION_REASONS, orderFunctionCertificate, renewFunctionCertificate, revokeFunctionCertificate, type FunctionProfile, type FunctionRevocationReason } from './certificates.ts';
import type { FunctionContext } from './context.ts';
import { failingFunctionObjects, validateDomain, validationsOf, VALIDATION_METHODS, type ValidationMethod } from './domains.ts';
import { authorisedObjects } from './orderers.ts';

const messages = defineMessages({
  sv: {
    functionTitle: 'Funktionscertifikat',
    functionIntro: 'Beställ certifikat för de funktionsobjekt du är behörig beställare för. Ladda upp en CSR; alla DNS-namn måste ligga i en validerad domän.',
    noObjects: 'Du är inte behörig beställare för något funktionsobjekt. Be den ansvariga utgivaren.',
    object: 'Funktionsobjekt',
    profile: 'Profil',
    csr: 'CSR (PEM)',
    orderButton: 'Beställ',
    serial: 'Serienummer',
    names: 'DNS-namn',
    validTo: 'Giltigt till',
    state: 'Status',
    good: 'Giltigt',
    revoked: 'Spärrat',
    download: 'Hämta',
    revoke: 'Spärra',
    reason: 'Orsak',
    ordered: 'Certifikatet är utfärdat',
    revokedDone: 'Certifikatet är spärrat',
    renew: 'Förnya',
    renewed: 'Nytt certifikat utfärdat; det gamla spärras när det nya hämtas, senast efter 14 dagar',
    mineTitle: 'Mina sidor',
    mineIntro: 'Dina e-legitimationer och deras status.',
    noEids: 'Du har inga kort.',
    card: 'Kort',
    kind: 'Typ',
    validUntil: 'Reservkortet gäller till',
    validUntilShort: 'Gäller till',
    extend: 'Förläng reservkortet (en gång)',
    lost: 'Anmäl förlorat – spärra nu',
    lostDone: 'Kortet är spärrat',
    extended: 'Reservkortet är förlängt till',
    certificates: 'Certifikat',
    mobileTitle: 'Mina mobila e-legitimationer',
    noMobile: 'Du har inga mobila e-legitimationer.',
    mobileEnrolled: 'Skaffad',
    mobileActive: 'Aktiv',
    mobileRevoked: 'Spärrad',
    mobileExpired: 'Utgången',
    mobileStart: 'Skaffa ett mobilt eID',
    mobileLost: 'Anmäl förlorat – spärra nu',
    mobileLostDone: 'Det mobila eID:t är spärrat',
    enrolTitle: 'Skaffa ett mobilt eID',
    enrolIntro: 'Öppna eID-appen och skanna QR-koden, eller skriv in koden. Koden kan användas en gång.',
    enrolCode: 'Engångskod',
    enrolExpires: 'Koden gäller till',
    enrolQrAlt: 'QR-kod för att skaffa ett mobilt eID',
    enrolBack: 'Tillbaka till Mina sidor',
    domainsTitle: 'Domänvalidering',
    notSpecialist: 'Du är inte valideringsspecialist för någon organisation.',
    domain: 'Domän',
    method: 'Metod',
    evidence: 'Underlag',
    validatedBy: 'Validerad av',
    failing: 'Funktionsobjekt som inte klarar valideringen',
    noFailing: 'Alla funktionsobjekt klarar valideringen.',
    record: 'Registrera validering',
    recorded: 'Domänen är validerad',
    search: 'Sök funktionsobjekt (HSA-id, namn eller DNS-namn)',
    searchButton: 'Sök',
    noHits: 'Inget av dina funktionsobjekt matchar sökningen.',
  },
  en: {
    functionTitle: 'Function certificates',
    functionIntro: 'Order certificates for the function objects you are an authorised orderer for. Upload a CSR; every DNS name must lie in a validated domain.',
    noObjects: 'You are not an authorised orderer for any function object. Ask the responsible issuer.',
    object: 'Function object',
    profile: 'Profile',
    csr: 'CSR (PEM)',
    orderButton: 'Order',
    serial: 'Serial number',
    names: 'DNS names',
    validTo: 'Valid to',
    state: 'Status',
    good: 'Good',
    revoked: 'Revoked',
    download: 'Download',
    revoke: 'Revoke',
    reason: 'Reason',
    ordered: 'The certificate is issued',
    revokedDone: 'The certificate is revoked',
    renew: 'Renew',
    renewed: 'New certificate issued; the old one is revoked when the new one is downloaded, after 14 days at the latest',
    mineTitle: 'My pages',
    mineIntro: 'Your eIDs and their status.',
    noEids: 'You have no cards.',
    card: 'Card',
    kind: 'Kind',
    validUntil: 'The reserve card is valid until',
    validUntilShort: 'Valid until',
    extend: 'Extend the reserve card (once)',
    lost: 'Report lost – revoke now',
    lostDone: 'The card is revoked',
    extended: 'The reserve card is extended until',
    certificates: 'Certificates',
    mobileTitle: 'My mobile eIDs',
    noMobile: 'You have no mobile eIDs.',
    mobileEnrolled: 'Enrolled',
    mobileActive: 'Active',
    mobileRevoked: 'Revoked',
    mobileExpired: 'Expired',
    mobileStart: 'Get a mobile eID',
    mobileLost: 'Report lost – revoke now',
    mobileLostDone: 'The mobile eID is revoked',
    enrolTitle: 'Get a mobile eID',
    enrolIntro: 'Open the eID app and scan the QR code, or type the code. The code can be used once.',
    enrolCode: 'One-time code',
    enrolExpires: 'The code is valid until',
    enrolQrAlt: 'QR code for getting a mobile eID',
    enrolBack: 'Back to My pages',
    domainsTitle: 'Domain validation',
    notSpecialist: 'You are not a validation specialist for any organisation.',
    domain: 'Domain',
    method: 'Method',
    evidence: 'Evidence',
    validatedBy: 'Validated by',
    failing: 'Function objects failing validation',
    noFailing: 'Every function object passes validation.',
    record: 'Record validation',
    recorded: 'The domain is validated',
    search: 'Search function objects (HSA-id, name or DNS name)',
    searchButton: 'Search',
    noHits: 'None of your function objects matches the search.',
  },
});

const utc = (at: Date) => at.toISOString().slice(0, 16).replace('T', ' ');

/** A QR code as an image the strict CSP allows (a data: URL, no script): the enrolment code here, the unlock login's in the card pages. */
export function qrDataUrl(content: string): string {
  const code = qrcode(0, 'M');
  code.addData(content);
  code.make();
  return `data:image/svg+xml;base64,${Buffer.from(code.createSvgTag({ cellSize: 4, margin: 4, scalable: true })).toString('base64')}`;
}

export interface FunctionUiDependencies {
  readonly functions: FunctionContext;
  readonly selfService: MobileSelfServiceContext;
  readonly ephemeral: EphemeralStore;
  readonly idleMs: number;
  readonly trainingValidForDays: number;
}

type Form = Record<string, string | string[] | undefined>;
const one = (form: Form, name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
const csrf = (session: PortalSession) => html`<input type="hidden" name="_csrf" value="${session.csrf}">`;
const MAX_SESSION_MS = 12 * 3_600_000;

function page(locale: Locale, currentUrl: string, session: PortalSession, title: string, body: SafeHtml): string {
  const flash = session.flash;
  return renderPage({
    locale,
    title,
    currentUrl,
    body: html`<nav class="tillit-portal-nav"><a class="ds-link" href="/portal">eID</a> · <a class="ds-link" href="/portal/function-certificates">${messages(locale)('functionTitle')}</a> · <a class="ds-link" href="/portal/domains">${messages(locale)('domainsTitle')}</a> · <a class="ds-link" href="/portal/mine">${messages(locale)('mineTitle')}</a> · <span>${session.name} (${session.hsaId})</span></nav>
${flash ? html`<div class="ds-alert" data-color="${flash.kind === 'ok' ? 'success' : 'danger'}" role="${flash.kind === 'ok' ? 'status' : 'alert'}"><p class="ds-paragraph">${flash.text}</p></div>` : ''}
<h1 class="ds-heading" data-size="lg">${title}</h1>
${body}`,
  });
}

/**
 * Pages for function-certificate orderers (order, download, revoke) and for
 * every signed-in holder ("Mina sidor"), on the portal's session and CSRF
 * token; the rules and role checks are the same functions the API calls.
 */
export function functionUiRoutes(deps: FunctionUiDependencies) {
  const sessions = portalSessions(deps.ephemeral, deps.idleMs, MAX_SESSION_MS, () => deps.functions.now().getTime());
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_request, body, done) => done(null, parseForm(body as string)));

    const signedIn = async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await sessions.read(request, reply);
      if (!found) {
        reply.redirect('/portal?expired=1', 303);
        return null;
      }
      return found;
    };
    const view = (render: (locale: Locale, session: PortalSession, request: FastifyRequest) => Promise<SafeHtml>, title: (t: ReturnType<typeof messages>) => string) => async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      const locale = rememberLocale(request, reply);
      try {
        const body = await render(locale, found.session, request);
        if (found.session.flash) await sessions.save(found.id, { ...found.session, flash: undefined });
        return sendPage(reply, page(locale, request.url, found.session, title(messages(locale)), body));
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        reply.code(HTTP_STATUS[error.kind]);
        return sendPage(reply, page(locale, request.url, { ...found.session, flash: { kind: 'error', text: error.message } }, title(messages(locale)), html``));
      }
    };
    /** A form post: the session's CSRF token first; the outcome (or the refusal's reason) goes back as a flash message. */
    const action = (back: string, work: (form: Form, session: PortalSession, t: ReturnType<typeof messages>, request: FastifyRequest) => Promise<string>) => async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      const form = (request.body ?? {}) as Form;
      if (!csrfMatches(found.session, form['_csrf'])) {
        request.log.info({ decision: 'portal csrf refused', actor: found.session.hsaId, url: request.url }, 'form post without the session token');
        return reply.code(403).send('forged request');
      }
      let flash: PortalSession['flash'];
      try {
        flash = { kind: 'ok', text: await work(form, found.session, messages(rememberLocale(request, reply)), request) };
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        flash = { kind: 'error', text: error.message };
      }
      await sessions.save(found.id, { ...found.session, flash });
      return reply.redirect(back, 303);
    };
    const actor = (session: PortalSession) => loadActor(deps.functions.db, session.hsaId, deps.functions.now(), deps.trainingValidForDays);

    app.get(
      '/portal/function-certificates',
      view(async (locale, session, request) => {
        const t = messages(locale);
        const search = String((request.query as Record<string, unknown>)['q'] ?? '').slice(0, 100);
        const objects = await authorisedObjects(deps.functions.db, session.hsaId, search);
        const searchForm = html`<form method="get" action="/portal/function-certificates" role="search"><div class="ds-field"><label class="ds-label" for="q">${t('search')}</label><input class="ds-input" id="q" name="q" value="${search}"></div><button class="ds-button" data-variant="secondary" type="submit">${t('searchButton')}</button></form>`;
        if (objects.length === 0) return search ? html`${searchForm}<p class="ds-paragraph">${t('noHits')}</p>` : html`<p class="ds-paragraph">${t('noObjects')}</p>`;
        const sections: SafeHtml[] = [];
        for (const o of objects) {
          const certificates = await certificatesOfObject(deps.functions.db, o.functionObject);
          sections.push(html`<h2 class="ds-heading" data-size="sm">${o.functionObject} · ${o.object.name} (${o.object.kind})</h2>
<table class="ds-table"><thead><tr><th>${t('serial')}</th><th>${t('profile')}</th><th>${t('names')}</th><th>${t('validTo')}</th><th>${t('state')}</th><th></th></tr></thead><tbody>
${certificates.map(
  (c) => html`<tr><td>${c.serial}</td><td>${c.profile}</td><td>${c.dnsNames.join(', ')}</td><td>${c.notAfter.toISOString().slice(0, 10)}</td><td>${c.revokedAt ? `${t('revoked')} (${c.revocationReason})` : t('good')}</td>
<td><a class="ds-link" href="/portal/function-certificates/${c.serial}/chain.pem">${t('download')} PEM</a> · <a class="ds-link" href="/portal/function-certificates/${c.serial}/chain.p7b">${t('download')} PKCS#7</a>
${c.revokedAt ? '' : html`<details><summary>${t('renew')}</summary><form method="post" action="/portal/function-certificates/${c.serial}/renew">${csrf(session)}<label class="ds-label" for="renew-${c.serial}">${t('csr')}</label><textarea class="ds-input" id="renew-${c.serial}" name="csr" rows="6" required></textarea><button class="ds-button" data-variant="secondary" type="submit">${t('renew')}</button></form></details>`}
${c.revokedAt ? '' : html`<form method="post" action="/portal/function-certificates/${c.serial}/revoke" class="tillit-inline">${csrf(session)}<select class="ds-input" name="reason" aria-label="${t('reason')}">${FUNCTION_REVOCATION_REASONS.map((r) => html`<option value="${r}">${r}</option>`)}</select><button class="ds-button" data-variant="secondary" type="submit">${t('revoke')}</button></form>`}</td></tr>`,
)}</tbody></table>`);
        }
        return html`<p class="ds-paragraph">${t('functionIntro')}</p>
<form method="post" action="/portal/function-certificates" class="ds-fieldset">${csrf(session)}
<div class="ds-field"><label class="ds-label" for="object">${t('object')}</label><select class="ds-input" id="object" name="functionObject">${objects.map((o) => html`<option value="${o.functionObject}">${o.functionObject} · ${o.object.name}</option>`)}</select></div>
<div class="ds-field"><label class="ds-label" for="profile">${t('profile')}</label><select class="ds-input" id="profile" name="profile">${FUNCTION_PROFILES.map((p) => html`<option value="${p}">${p}</option>`)}</select></div>
<div class="ds-field"><label class="ds-label" for="csr">${t('csr')}</label><textarea class="ds-input" id="csr" name="csr" rows="10" required></textarea></div>
<button class="ds-button" data-variant="primary" type="submit">${t('orderButton')}</button></form>
${searchForm}
${sections}`;
      }, (t) => t('functionTitle')),
    );
    app.post(
      '/portal/function-certificates',
      action('/portal/function-certificates', async (form, session, t) => {
        const issued = await orderFunctionCertificate(deps.functions, await actor(session), { functionObject: one(form, 'functionObject'), profile: one(form, 'profile') as FunctionProfile, csrPem: one(form, 'csr') });
        return `${t('ordered')}: ${issued.serial}`;
      }),
    );
    app.post(
      '/portal/function-certificates/:serial/renew',
      action('/portal/function-certificates', async (form, session, t, request) => {
        const renewed = await renewFunctionCertificate(deps.functions, await actor(session), (request.params as { serial: string }).serial, one(form, 'csr'));
        return `${t('renewed')}: ${renewed.serial} (${renewed.replaces})`;
      }),
    );
    app.post(
      '/portal/function-certificates/:serial/revoke',
      action('/portal/function-certificates', async (form, session, t, request) => {
        const revoked = await revokeFunctionCertificate(deps.functions, await actor(session), (request.params as { serial: string }).serial, one(form, 'reason') as FunctionRevocationReason);
        return `${t('revokedDone')}: ${revoked.serial}`;
      }),
    );
    app.get('/portal/function-certificates/:file', async (request, reply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      const match = /^([0-9a-f]{1,40})\.(pem|p7b)$/.exec((request.params as { file: string }).file);
      try {
        if (!match) throw new PortalRefused('not-found', 'ask for <serial>.pem or <serial>.p7b');
        const { body } = await downloadFunctionCertificate(deps.functions, await actor(found.session), match[1]!, match[2] === 'pem' ? 'pem' : 'pkcs7');
        const type = match[2] === 'pem' ? 'application/pem-certificate-chain' : 'application/pkcs7-mime';
        return reply.header('content-type', type).header('content-disposition', `attachment; filename="${match[1]}.${match[2]}"`).header('cache-control', 'no-store').send(typeof body === 'string' ? body : Buffer.from(body));
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        return reply.code(HTTP_STATUS[error.kind]).type('text/plain; charset=utf-8').send(error.message);
      }
    });

    app.get(
      '/portal/domains',
      view(async (locale, session) => {
        const t = messages(locale);
        const me = await actor(session);
        const organisations = [...new Set(me.assignments.filter((a) => a.role === 'validation-specialist' && a.unit === null).map((a) => a.organisation))];
        if (organisations.length === 0) return html`<p class="ds-paragraph">${t('notSpecialist')}</p>`;
        const sections: SafeHtml[] = [];
        for (const organisation of organisations) {
          const validations = await validationsOf(deps.functions.db, organisation);
          const failing = await failingFunctionObjects(deps.functions, me, organisation);
          sections.push(html`<h2 class="ds-heading" data-size="sm">${organisation}</h2>
<table class="ds-table"><thead><tr><th>${t('domain')}</th><th>${t('method')}</th><th>${t('evidence')}</th><th>${t('validatedBy')}</th><th>${t('validUntilShort')}</th></tr></thead><tbody>
${validations.map((v) => html`<tr><td>${v.domain}</td><td>${v.method}</td><td>${v.evidence}</td><td>${v.validatedBy}</td><td>${v.validUntil.toISOString().slice(0, 10)}</td></tr>`)}</tbody></table>
<h3 class="ds-heading" data-size="xs">${t('failing')}</h3>
${failing.length ? html`<ul>${failing.map((f) => html`<li>${f.functionObject} (${f.name})${f.serial ? ` · ${f.serial}` : ''}: ${f.reasons.join('; ')}</li>`)}</ul>` : html`<p class="ds-paragraph">${t('noFailing')}</p>`}
<form method="post" action="/portal/domains" class="ds-fieldset">${csrf(session)}<input type="hidden" name="organisation" value="${organisation}">
<div class="ds-field"><label class="ds-label" for="domain-${organisation}">${t('domain')}</label><input class="ds-input" id="domain-${organisation}" name="domain" required></div>
<div class="ds-field"><label class="ds-label" for="method-${organisation}">${t('method')}</label><select class="ds-input" id="method-${organisation}" name="method">${VALIDATION_METHODS.map((m) => html`<option value="${m}">${m}</option>`)}</select></div>
<div class="ds-field"><label class="ds-label" for="evidence-${organisation}">${t('evidence')}</label><input class="ds-input" id="evidence-${organisation}" name="evidence" required></div>
<div class="ds-field"><label class="ds-label" for="until-${organisation}">${t('validUntilShort')}</label><input class="ds-input" type="date" id="until-${organisation}" name="validUntil" required></div>
<button class="ds-button" data-variant="primary" type="submit">${t('record')}</button></form>`);
        }
        return html`${sections}`;
      }, (t) => t('domainsTitle')),
    );
    app.post(
      '/portal/domains',
      action('/portal/domains', async (form, session, t) => {
        const day = one(form, 'validUntil');
        if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new PortalRefused('invalid', 'the validation needs a valid-until date, YYYY-MM-DD');
        const validation = await validateDomain(deps.functions, await actor(session), {
          organisation: one(form, 'organisation'),
          domain: one(form, 'domain'),
          method: one(form, 'method') as ValidationMethod,
          evidence: one(form, 'evidence'),
          validUntil: new Date(`${day}T23:59:59Z`),
        });
        return `${t('recorded')}: ${validation.domain}`;
      }),
    );
    app.get(
      '/portal/mine',
      view(async (locale, session) => {
        const t = messages(locale);
        const eids = await myEids(deps.selfService, session.hsaId);
        const cards = eids.length === 0 ? html`<p class="ds-paragraph">${t('noEids')}</p>` : html`<p class="ds-paragraph">${t('mineIntro')}</p>
${eids.map(
  (e) => html`<section class="ds-card"><h2 class="ds-heading" data-size="sm">${t('card')} ${e.card.id} · ${e.card.kind} · ${e.card.status}</h2>
<p class="ds-paragraph">${t('certificates')}: ${e.certificates.map((c) => `${c.slot} ${c.serial} ${c.status === 'good' ? t('good') : t('revoked')}`).join('; ')}</p>
${e.reserve?.validUntil ? html`<p class="ds-paragraph">${t('validUntil')} ${e.reserve.validUntil.toISOString().slice(0, 16).replace('T', ' ')} UTC</p>` : ''}
${e.card.status === 'active' && e.reserve && !e.reserve.extended ? html`<form method="post" action="/portal/mine/cards/${e.card.id}/extend" class="tillit-inline">${csrf(session)}<button class="ds-button" data-variant="secondary" type="submit">${t('extend')}</button></form>` : ''}
${e.card.status === 'active' || e.card.status === 'sent' ? html`<form method="post" action="/portal/mine/cards/${e.card.id}/lost" class="tillit-inline">${csrf(session)}<button class="ds-button" data-variant="primary" data-color="danger" type="submit">${t('lost')}</button></form>` : ''}
</section>`,
)}`;
        if (!deps.selfService.enrolment) return cards;
        const mobile = await myMobileEids(deps.selfService, session.hsaId);
        return html`${cards}
<h2 class="ds-heading" data-size="md">${t('mobileTitle')}</h2>
${mobile.length === 0 ? html`<p class="ds-paragraph">${t('noMobile')}</p>` : html`<table class="ds-table"><thead><tr><th>${t('serial')}</th><th>${t('mobileEnrolled')}</th><th>${t('validTo')}</th><th>${t('state')}</th><th></th></tr></thead><tbody>
${mobile.map((m) => html`<tr><td>${m.serial}${m.deviceLabel ? ` (${m.deviceLabel})` : ''}</td><td>${utc(m.enrolledAt)}</td><td>${utc(m.notAfter)}</td><td>${t(m.status === 'active' ? 'mobileActive' : m.status === 'revoked' ? 'mobileRevoked' : 'mobileExpired')}</td><td>${m.status === 'active' ? html`<form method="post" action="/portal/mine/mobile-eids/${m.serial}/lost" class="tillit-inline">${csrf(session)}<button class="ds-button" data-variant="primary" data-color="danger" type="submit">${t('mobileLost')}</button></form>` : ''}</td></tr>`)}</tbody></table>`}
<form method="post" action="/portal/mine/mobile-eids/enrolment">${csrf(session)}<button class="ds-button" data-variant="primary" type="submit">${t('mobileStart')}</button></form>`;
      }, (t) => t('mineTitle')),
    );
    const cardId = (request: FastifyRequest) => {
      const id = Number((request.params as { id: string }).id);
      if (!Number.isSafeInteger(id) || id < 1) throw new PortalRefused('not-found', 'no such card');
      return id;
    };
    app.post(
      '/portal/mine/cards/:id/lost',
      action('/portal/mine', async (_form, session, t, request) => {
        const { serials } = await reportMyCardLost(deps.selfService, session.hsaId, cardId(request));
        return `${t('lostDone')}: ${serials.join(', ')}`;
      }),
    );
    // The code is shown on the page the post answers, not kept in the session for a redirect: it is a one-time secret.
    app.post('/portal/mine/mobile-eids/enrolment', async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await signedIn(request, reply);
      if (!found) return reply;
      if (!csrfMatches(found.session, ((request.body ?? {}) as Form)['_csrf'])) {
        request.log.info({ decision: 'portal csrf refused', actor: found.session.hsaId, url: request.url }, 'form post without the session token');
        return reply.code(403).send('forged request');
      }
      const locale = rememberLocale(request, reply);
      const t = messages(locale);
      let code;
      try {
        code = await startMyEnrolment(deps.selfService, found.session.hsaId);
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        await sessions.save(found.id, { ...found.session, flash: { kind: 'error', text: error.message } });
        return reply.redirect('/portal/mine', 303);
      }
      reply.header('cache-control', 'no-store');
      return sendPage(
        reply,
        page(locale, request.url, { ...found.session, flash: undefined }, t('enrolTitle'), html`<p class="ds-paragraph">${t('enrolIntro')}</p>
<p><img id="tillit-mine-enrolment-qr" src="${qrDataUrl(code.qr)}" alt="${t('enrolQrAlt')}" width="240" height="240"></p>
<p class="ds-paragraph">${t('enrolCode')}: <strong id="tillit-mine-enrolment-code">${code.code}</strong></p>
<p class="ds-paragraph">${t('enrolExpires')} ${utc(code.expiresAt)} UTC</p>
<p class="ds-paragraph"><a class="ds-link" href="/portal/mine">${t('enrolBack')}</a></p>`),
      );
    });
    app.post(
      '/portal/mine/mobile-eids/:serial/lost',
      action('/portal/mine', async (_form, session, t, request) => {
        const { serial } = await reportMyMobileEidLost(deps.selfService, session.hsaId, String((request.params as { serial: string }).serial).slice(0, 64));
        return `${t('mobileLostDone')}: ${serial}`;
      }),
    );
    app.post(
      '/portal/mine/cards/:id/extend',
      action('/portal/mine', async (_form, session, t, request) => {
        const { validUntil } = await extendMyReserveCard(deps.selfService, session.hsaId, cardId(request));
        return `${t('extended')} ${validUntil.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
      }),
    );
  };
}
