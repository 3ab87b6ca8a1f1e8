import type { CommissionView, ServiceIdentityView } from '../../directory/index.ts';
import { ASSET_PATHS, defineMessages, html, raw, renderPage, type Locale, type SafeHtml } from '../../web/index.ts';

/** A login method a page can offer (the same names as the session's AuthnMethod). */
export type LoginMethod = 'oob-other' | 'oob-same' | 'mtls';

const sv = {
  'login.title': 'Logga in',
  'login.to': 'Logga in till {client}',
  'login.chooseMethod': 'Välj hur du vill legitimera dig.',
  'method.oob-other': 'SITHS eID på annan enhet',
  'method.oob-same': 'SITHS eID på denna enhet',
  'method.mtls': 'SITHS-kort på denna enhet',
  'wait.title': 'Legitimera dig',
  'wait.scan': 'Öppna SITHS eID-appen och skanna QR-koden.',
  'wait.qrAlt': 'QR-kod att skanna med SITHS eID-appen',
  'wait.sameDevice': 'Öppna SITHS eID på denna enhet',
  'wait.noScript': 'Sidan uppdaterar QR-koden med JavaScript. Utan JavaScript: öppna appen på denna enhet och tryck sedan på Fortsätt.',
  'wait.continue': 'Fortsätt',
  'wait.cancel': 'Avbryt',
  'hint.outstandingTransaction': 'Väntar på att du startar appen.',
  'hint.noClient': 'Väntar på att du startar appen.',
  'hint.started': 'Appen har startat.',
  'hint.userSign': 'Skriv din PIN-kod i appen.',
  'hint.expiredTransaction': 'Tiden gick ut. Börja om.',
  'hint.certificateErr': 'Din e-legitimation godtogs inte (spärrad, ogiltig eller fel nivå).',
  'hint.userCancel': 'Du avbröt i appen.',
  'hint.cancelled': 'Inloggningen avbröts.',
  'hint.startFailed': 'Appen kunde inte starta. Börja om.',
  'choose.title': 'Välj uppdrag',
  'choose.commission': 'Välj det medarbetaruppdrag du vill logga in med.',
  'choose.serviceIdentity': 'Välj den tjänsteidentitet du vill logga in med.',
  'choose.submit': 'Fortsätt',
  'choose.at': 'vid',
  'error.title': 'Inloggningen kunde inte slutföras',
  'error.restart': 'Gå tillbaka till e-tjänsten och börja om.',
  'error.unknownMethod': 'Det inloggningssättet finns inte för den här e-tjänsten.',
  'error.unknownClient': 'E-tjänsten är inte längre registrerad.',
  'wait.retry': 'Försök igen',
  'card.otherMethod': 'Välj ett annat sätt att legitimera dig',
  'logout.title': 'Logga ut',
  'logout.question': 'Vill du logga ut från alla e-tjänster du loggat in till med Tillit?',
  'logout.yes': 'Ja, logga ut',
  'logout.no': 'Nej, fortsätt vara inloggad',
  'loggedOut.title': 'Du är utloggad',
  'loggedOut.body': 'Stäng webbläsaren om du använder en delad dator.',
} as const;

type Key = keyof typeof sv;

const en: Record<Key, string> = {
  'login.title': 'Log in',
  'login.to': 'Log in to {client}',
  'login.chooseMethod': 'Choose how to identify yourself.',
  'method.oob-other': 'SITHS eID on another device',
  'method.oob-same': 'SITHS eID on this device',
  'method.mtls': 'SITHS card on this device',
  'wait.title': 'Identify yourself',
  'wait.scan': 'Open the SITHS eID app and scan the QR code.',
  'wait.qrAlt': 'QR code to scan with the SITHS eID app',
  'wait.sameDevice': 'Open SITHS eID on this device',
  'wait.noScript': 'This page refreshes the QR code with JavaScript. Without it: open the app on this device, then press Continue.',
  'wait.continue': 'Continue',
  'wait.cancel': 'Cancel',
  'hint.outstandingTransaction': 'Waiting for you to start the app.',
  'hint.noClient': 'Waiting for you to start the app.',
  'hint.started': 'The app has started.',
  'hint.userSign': 'Enter your PIN in the app.',
  'hint.expiredTransaction': 'Time ran out. Start again.',
  'hint.certificateErr': 'Your eID was not accepted (revoked, invalid or the wrong level).',
  'hint.userCancel': 'You cancelled in the app.',
  'hint.cancelled': 'The login was cancelled.',
  'hint.startFailed': 'The app could not start. Start again.',
  'choose.title': 'Choose commission',
  'choose.commission': 'Choose the commission to log in with.',
  'choose.serviceIdentity': 'Choose the service identity to log in with.',
  'choose.submit': 'Continue',
  'choose.at': 'at',
  'error.title': 'The login could not be completed',
  'error.restart': 'Go back to the e-service and start again.',
  'error.unknownMethod': 'That login method is not offered for this e-service.',
  'error.unknownClient': 'The e-service is no longer registered.',
  'wait.retry': 'Try again',
  'card.otherMethod': 'Choose another way to identify yourself',
  'logout.title': 'Log out',
  'logout.question': 'Do you want to log out of every e-service you logged in to with Tillit?',
  'logout.yes': 'Yes, log out',
  'logout.no': 'No, stay logged in',
  'loggedOut.title': 'You are logged out',
  'loggedOut.body': 'Close the browser if you are on a shared computer.',
};

export const loginMessages = defineMessages<Key>({ sv, en });
export type HintKey = Extract<Key, `hint.${string}`>;

export function hintText(locale: Locale, hintCode: string): string {
  const key = `hint.${hintCode}` as Key;
  return (key in sv ? loginMessages(locale)(key) : hintCode);
}

/**
 * The page's CSP with the client's origin added to form-action: browsers
 * apply form-action to every redirect after a form is sent, and our forms end
 * in a redirect to the client (the code, an error, or the logout return).
 */
export function widenFormAction(csp: string, uri: unknown): string {
  let origin: string | undefined;
  try {
    origin = typeof uri === 'string' ? new URL(uri).origin : undefined;
  } catch {
    origin = undefined;
  }
  if (!origin || origin === 'null') return csp;
  return csp
    .split(';')
    .map((directive) => (directive.trim().startsWith('form-action ') ? `${directive.trim()} ${origin}` : directive.trim()))
    .join(';');
}

export const heading = (text: string) => html`<h1 class="ds-heading" data-size="lg">${text}</h1>`;

/** `base` is the login's own path (OIDC's interaction, SAML's pending login): every form posts below it. */
export function methodPage(locale: Locale, currentUrl: string, base: string, clientName: string, methods: readonly LoginMethod[]): string {
  const t = loginMessages(locale);
  return renderPage({
    locale,
    title: t('login.title'),
    currentUrl,
    body: html`${heading(t('login.to').replace('{client}', clientName))}
<p class="ds-paragraph">${t('login.chooseMethod')}</p>
<form method="post" action="${base}/start">
${methods.map((m) =>
  // Card login is a link: a form's CSP form-action would also bind the redirects that follow it, to the rolling card hosts.
  m === 'mtls'
    ? html`<p><a class="ds-button" data-variant="primary" href="${base}/card/start">${t(`method.${m}`)}</a></p>`
    : html`<p><button class="ds-button" data-variant="primary" type="submit" name="method" value="${m}">${t(`method.${m}`)}</button></p>`,
)}
</form>`,
  });
}

export function waitPage(locale: Locale, currentUrl: string, base: string, clientName: string, qrDataUrl: string, autoStartLink: string, hintCode: string): string {
  const t = loginMessages(locale);
  return renderPage({
    locale,
    title: t('wait.title'),
    currentUrl,
    body: html`${heading(t('login.to').replace('{client}', clientName))}
<div id="tillit-login" data-status-url="${base}/status">
<p class="ds-paragraph">${t('wait.scan')}</p>
<p><img id="tillit-qr" src="${qrDataUrl}" alt="${t('wait.qrAlt')}" width="240" height="240"></p>
<p class="ds-paragraph" id="tillit-hint" role="status" aria-live="polite">${hintText(locale, hintCode)}</p>
<p id="tillit-retry" hidden><a class="ds-button" data-variant="primary" href="${base}">${t('wait.retry')}</a></p>
<p><a class="ds-button" data-variant="secondary" href="${autoStartLink}">${t('wait.sameDevice')}</a></p>
<noscript><p class="ds-paragraph">${t('wait.noScript')}</p></noscript>
<form id="tillit-collect" data-without-script method="post" action="${base}/collect"><button class="ds-button" data-variant="secondary" type="submit">${t('wait.continue')}</button></form>
<form method="post" action="${base}/cancel"><button class="ds-button" data-variant="tertiary" type="submit">${t('wait.cancel')}</button></form>
</div>
<script src="${ASSET_PATHS.qrPoll}"></script>`,
  });
}

/** A refused card login: the authentication service's advice (what was chosen, what to choose), a new attempt, another method, cancel. */
export function cardRefusalPage(locale: Locale, currentUrl: string, base: string, clientName: string, advice: SafeHtml, otherMethods: boolean): string {
  const t = loginMessages(locale);
  return renderPage({
    locale,
    title: t('wait.title'),
    currentUrl,
    body: html`${heading(t('login.to').replace('{client}', clientName))}
${advice}
${otherMethods ? html`<p><a class="ds-link" href="${base}">${t('card.otherMethod')}</a></p>` : html``}
<form method="post" action="${base}/cancel"><button class="ds-button" data-variant="tertiary" type="submit">${t('wait.cancel')}</button></form>`,
  });
}

export function commissionPage(locale: Locale, currentUrl: string, base: string, clientName: string, candidates: readonly (CommissionView & { serviceIdentityHsaId: string })[]): string {
  const t = loginMessages(locale);
  return choicePage(locale, currentUrl, base, clientName, t('choose.commission'), candidates.map((c) => ({ value: c.hsaId, label: `${c.name} – ${c.purpose}`, detail: `${t('choose.at')} ${c.careUnit.name}, ${c.careProvider.name}` })));
}

export function serviceIdentityPage(locale: Locale, currentUrl: string, base: string, clientName: string, candidates: readonly ServiceIdentityView[]): string {
  const t = loginMessages(locale);
  return choicePage(locale, currentUrl, base, clientName, t('choose.serviceIdentity'), candidates.map((s) => ({ value: s.hsaId, label: s.hsaId, detail: s.organisation.name })));
}

function choicePage(locale: Locale, currentUrl: string, base: string, clientName: string, lead: string, options: { value: string; label: string; detail: string }[]): string {
  const t = loginMessages(locale);
  return renderPage({
    locale,
    title: t('choose.title'),
    currentUrl,
    body: html`${heading(t('login.to').replace('{client}', clientName))}
<form method="post" action="${base}/choose">
<fieldset class="ds-fieldset"><legend class="ds-label">${lead}</legend>
${options.map(
  (o, i) => html`<div class="ds-field"><input class="ds-input" type="radio" id="choice-${String(i)}" name="choice" value="${o.value}"${i === 0 ? raw(' checked') : raw('')}>
<label class="ds-label" for="choice-${String(i)}">${o.label} <span class="ds-paragraph">${o.detail}</span></label></div>`,
)}
</fieldset>
<p><button class="ds-button" data-variant="primary" type="submit">${t('choose.submit')}</button></p>
</form>`,
  });
}

export function loginErrorPage(locale: Locale, currentUrl: string, message: string): string {
  const t = loginMessages(locale);
  return renderPage({ locale, title: t('error.title'), currentUrl, body: html`${heading(t('error.title'))}<p class="ds-paragraph">${message}</p><p class="ds-paragraph">${t('error.restart')}</p>` });
}
