import { html, type SafeHtml } from './html.ts';
import { LOCALES, type Locale } from './i18n.ts';
import { translator } from './messages.ts';

export interface PageOptions {
  readonly locale: Locale;
  readonly title: string;
  /** Path and query of this page, for the language switch. */
  readonly currentUrl: string;
  readonly body: SafeHtml;
}

export const ASSET_PATHS = {
  designsystem: '/assets/designsystemet.css',
  theme: '/assets/designsystemet-theme.css',
  site: '/assets/tillit.css',
  /** The one script of the eID app's QR pages (see qr-poll.js): pages stay without inline script. */
  qrPoll: '/assets/qr-poll.js',
} as const;

/** The frame of every page: language, landmarks, skip link and the design system's styles. */
export function renderPage(options: PageOptions): string {
  const t = translator(options.locale);
  const other = LOCALES.find((l) => l !== options.locale)!;
  return (
    '<!doctype html>\n' +
    html`<html lang="${options.locale}" data-color-scheme="light">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} – ${t('site.name')}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_PATHS.theme}">
<link rel="stylesheet" href="${ASSET_PATHS.designsystem}">
<link rel="stylesheet" href="${ASSET_PATHS.site}">
</head>
<body>
<a class="ds-skip-link" href="#main">${t('nav.skip')}</a>
<header class="tillit-header">
  <a class="tillit-brand" href="/">${t('site.name')}</a>
  <span class="tillit-tagline">${t('site.tagline')}</span>
  <nav aria-label="${t('nav.language')}">
    <a class="ds-link" href="${withLang(options.currentUrl, other)}" hreflang="${other}" lang="${other}">${t('nav.otherLanguage')}</a>
  </nav>
</header>
<main id="main" class="tillit-main" tabindex="-1">
${options.body}
</main>
</body>
</html>
`.value
  );
}

/** The same page in another language (the switch also sets a cookie server-side). */
export function withLang(currentUrl: string, locale: Locale): string {
  const url = new URL(currentUrl, 'http://x');
  url.searchParams.set('lang', locale);
  return `${url.pathname}${url.search}`;
}
