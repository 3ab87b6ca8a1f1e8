import { html, type Locale, type SafeHtml } from '../web/index.ts';

/** A message in one language: a subject, the plain text, and HTML made with the escaping `html` tag. */
export interface MailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: SafeHtml;
}

/**
 * A message kind in Swedish and English. Values go in only through the
 * render functions: the `html` tag escapes them, and the subject loses
 * line breaks, so no value can add markup or a header.
 */
export interface MailTemplate<V> {
  readonly name: string;
  render(values: V, locale: Locale): MailContent;
}

export function defineTemplate<V>(name: string, byLocale: Readonly<Record<Locale, (values: V) => MailContent>>): MailTemplate<V> {
  return {
    name,
    render(values, locale) {
      const content = byLocale[locale](values);
      return { subject: oneLine(content.subject), text: content.text, html: content.html };
    },
  };
}

/** The HTML document a message body goes in: language set, no scripts, no remote content. */
export function mailDocument(locale: Locale, subject: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="${locale}"><head><meta charset="utf-8"><title>${oneLine(subject)}</title></head>
<body>${body}</body></html>`.value;
}

function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 200);
}
