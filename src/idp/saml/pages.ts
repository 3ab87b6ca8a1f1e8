import { html, renderPage, defineMessages, type Locale } from '../../web/index.ts';
import { heading } from '../login/index.ts';

const sv = {
  'post.title': 'Skickar dig vidare',
  'post.body': 'Du skickas tillbaka till e-tjänsten.',
  'post.continue': 'Fortsätt',
  'refused.body': 'E-tjänstens begäran om inloggning kunde inte godtas.',
} as const;
type Key = keyof typeof sv;
const en: Record<Key, string> = {
  'post.title': 'Taking you back',
  'post.body': 'You are being sent back to the e-service.',
  'post.continue': 'Continue',
  'refused.body': 'The e-service’s login request could not be accepted.',
};

export const samlMessages = defineMessages<Key>({ sv, en });

export const POST_SCRIPT = '/saml/assets/post.js';

/**
 * The HTTP-POST binding: a form to the SP's ACS (from its metadata), sent by
 * a script file (the CSP allows no inline script), or by the button without one.
 */
export function postPage(locale: Locale, currentUrl: string, acsUrl: string, fields: Readonly<Record<string, string | undefined>>): string {
  const t = samlMessages(locale);
  return renderPage({
    locale,
    title: t('post.title'),
    currentUrl,
    body: html`${heading(t('post.title'))}
<form id="saml-post" method="post" action="${acsUrl}">
${Object.entries(fields)
  .filter((entry): entry is [string, string] => entry[1] !== undefined)
  .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<p class="ds-paragraph">${t('post.body')}</p>
<p><button class="ds-button" data-variant="primary" type="submit">${t('post.continue')}</button></p>
</form>
<script src="${POST_SCRIPT}"></script>`,
  });
}
