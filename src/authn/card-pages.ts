import { defineMessages, html, renderPage, type Locale, type SafeHtml } from '../web/index.ts';
import type { CardRefusalCode, CertificateSummary } from './card-check.ts';

const sv = {
  'card.title': 'Logga in med SITHS-kort',
  'card.refused': 'Kortinloggningen godtogs inte',
  'card.chosen': 'Du valde det här certifikatet:',
  'card.subject': 'Innehavare',
  'card.issuer': 'Utfärdare',
  'card.validTo': 'Giltigt till',
  'card.retry': 'Försök igen och välj ett annat certifikat',
  'card.restart.title': 'Starta om webbläsaren',
  'card.restart.body': 'Du har försökt logga in med kort {max} gånger. Webbläsaren kommer ihåg vilket certifikat du valt, så ett nytt försök kräver att du stänger alla webbläsarfönster och startar webbläsaren igen. Börja sedan om från e-tjänsten.',
  'card.expired.title': 'Kortinloggningen har gått ut',
  'card.expired.body': 'Det tog för lång tid. Gå tillbaka till e-tjänsten och börja om.',
  'advice.noCertificate': 'Webbläsaren skickade inget certifikat. Kontrollera att kortet sitter i läsaren, försök igen och välj ditt legitimeringscertifikat när webbläsaren frågar.',
  'advice.unreadable': 'Certifikatet gick inte att läsa. Försök igen och välj legitimeringscertifikatet på ditt SITHS-kort.',
  'advice.signatureCertificate': 'Du valde underskriftscertifikatet. Försök igen och välj legitimeringscertifikatet (för inloggning) på samma kort.',
  'advice.personnummerCertificate': 'Du valde certifikatet med ditt personnummer, men här krävs det som har ditt HSA-id. Försök igen och välj HSA-id-certifikatet på samma kort.',
  'advice.otherPerson': 'Certifikatet gäller en annan person eller ett annat HSA-id än e-tjänsten frågade efter. Försök igen och välj ditt eget certifikat.',
  'advice.foreignCa': 'Certifikatet kommer från en utfärdare som inte godtas här (till exempel ett certifikat från en annan leverantör på samma kort). Försök igen och välj certifikatet som är utfärdat av SITHS-utfärdaren.',
  'advice.expired': 'Certifikatet har gått ut. Försök igen med ett giltigt kort, eller kontakta din ID-administratör om ett nytt kort.',
  'advice.notYetValid': 'Certifikatet är inte giltigt ännu. Försök igen med ett annat kort, eller kontakta din ID-administratör.',
  'advice.revoked': 'Certifikatet är spärrat. Försök igen med ett annat kort, eller kontakta din ID-administratör.',
  'advice.revocationUnknown': 'Det gick inte att kontrollera om certifikatet är spärrat. Försök igen om en stund.',
  'advice.lowAssurance': 'Certifikatet har för låg tillitsnivå för e-tjänsten (till exempel ett reservkort). Försök igen med ditt ordinarie kort.',
  'advice.notAnEid': 'Certifikatet är inte en e-legitimation för inloggning. Försök igen och välj legitimeringscertifikatet på ditt SITHS-kort.',
} as const;

type Key = keyof typeof sv;

const en: Record<Key, string> = {
  'card.title': 'Log in with a SITHS card',
  'card.refused': 'The card login was not accepted',
  'card.chosen': 'You chose this certificate:',
  'card.subject': 'Holder',
  'card.issuer': 'Issuer',
  'card.validTo': 'Valid until',
  'card.retry': 'Try again and choose another certificate',
  'card.restart.title': 'Restart your browser',
  'card.restart.body': 'You have tried to log in with a card {max} times. The browser remembers the certificate you chose, so to try again close every browser window and start the browser again. Then start over from the e-service.',
  'card.expired.title': 'The card login has expired',
  'card.expired.body': 'It took too long. Go back to the e-service and start again.',
  'advice.noCertificate': 'The browser sent no certificate. Check that the card is in the reader, try again and choose your authentication certificate when the browser asks.',
  'advice.unreadable': 'The certificate could not be read. Try again and choose the authentication certificate on your SITHS card.',
  'advice.signatureCertificate': 'You chose the signature certificate. Try again and choose the authentication certificate (for logging in) on the same card.',
  'advice.personnummerCertificate': 'You chose the certificate with your personal identity number, but this service needs the one with your HSA-id. Try again and choose the HSA-id certificate on the same card.',
  'advice.otherPerson': 'The certificate names another person or HSA-id than the e-service asked for. Try again and choose your own certificate.',
  'advice.foreignCa': 'The certificate comes from an issuer that is not accepted here (for example another provider’s certificate on the same card). Try again and choose the certificate issued by the SITHS CA.',
  'advice.expired': 'The certificate has expired. Try again with a valid card, or ask your ID administrator for a new card.',
  'advice.notYetValid': 'The certificate is not valid yet. Try again with another card, or ask your ID administrator.',
  'advice.revoked': 'The certificate is revoked. Try again with another card, or ask your ID administrator.',
  'advice.revocationUnknown': 'Whether the certificate is revoked could not be checked. Try again in a while.',
  'advice.lowAssurance': 'The certificate’s level of assurance is too low for the e-service (a reserve card, for example). Try again with your ordinary card.',
  'advice.notAnEid': 'The certificate is not an eID for logging in. Try again and choose the authentication certificate on your SITHS card.',
};

export const cardMessages = defineMessages<Key>({ sv, en });

/** A date as the page's language writes it. */
export function shortDate(locale: Locale, iso: string): string {
  return new Date(iso).toLocaleDateString(locale === 'sv' ? 'sv-SE' : 'en-GB', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'Europe/Stockholm' });
}

/** The certificate the person chose: holder, issuer, expiry. */
export function certificateFacts(locale: Locale, certificate: CertificateSummary): SafeHtml {
  const t = cardMessages(locale);
  return html`<dl class="tillit-facts" id="tillit-card-certificate">
<dt>${t('card.subject')}</dt><dd>${certificate.subject}</dd>
<dt>${t('card.issuer')}</dt><dd>${certificate.issuer}</dd>
<dt>${t('card.validTo')}</dt><dd>${shortDate(locale, certificate.notAfter)}</dd>
</dl>`;
}

/**
 * What went wrong and what to choose instead, with a new attempt (the next
 * rolling host). Shared by the IdP's login pages and the test page.
 */
export function cardRefusalAdvice(locale: Locale, refusal: { code: CardRefusalCode; certificate: CertificateSummary | null }, retryHref: string): SafeHtml {
  const t = cardMessages(locale);
  return html`<div class="ds-alert" data-color="warning" role="alert" id="tillit-card-refusal" data-code="${refusal.code}">
<h2 class="ds-heading" data-size="sm">${t('card.refused')}</h2>
<p class="ds-paragraph">${t(`advice.${refusal.code}`)}</p>
</div>
${refusal.certificate ? html`<p class="ds-paragraph">${t('card.chosen')}</p>${certificateFacts(locale, refusal.certificate)}` : html``}
<p><a class="ds-button" data-variant="primary" id="tillit-card-retry" href="${retryHref}">${t('card.retry')}</a></p>`;
}

export function restartBrowserPage(locale: Locale, currentUrl: string, maxAttempts: number): string {
  const t = cardMessages(locale);
  return renderPage({
    locale,
    title: t('card.restart.title'),
    currentUrl,
    body: html`<h1 class="ds-heading" data-size="lg">${t('card.restart.title')}</h1><p class="ds-paragraph" id="tillit-card-restart">${t('card.restart.body').replace('{max}', String(maxAttempts))}</p>`,
  });
}

export function cardExpiredPage(locale: Locale, currentUrl: string): string {
  const t = cardMessages(locale);
  return renderPage({ locale, title: t('card.expired.title'), currentUrl, body: html`<h1 class="ds-heading" data-size="lg">${t('card.expired.title')}</h1><p class="ds-paragraph">${t('card.expired.body')}</p>` });
}
