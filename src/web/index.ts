export { html, raw, escapeHtml, SafeHtml } from './html.ts';
export { pickLocale, fromAcceptLanguage, isLocale, LOCALES, DEFAULT_LOCALE, LOCALE_COOKIE, type Locale } from './i18n.ts';
export { translator, defineMessages, type MessageKey, type Translate } from './messages.ts';
export { renderPage, withLang, ASSET_PATHS, type PageOptions } from './layout.ts';
