import type { KoaContextWithOIDC } from 'oidc-provider';
import { html, pickLocale, raw, renderPage } from '../../web/index.ts';
import { heading, loginMessages, widenFormAction } from '../login/index.ts';

/** oidc-provider's logout confirmation; `form` is its own markup (the hidden xsrf form), trusted. */
export async function renderLogoutPage(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const locale = pickLocale({ query: ctx.query, headers: ctx.headers });
  ctx.set('content-security-policy', widenFormAction(ctx.response.get('content-security-policy'), ctx.oidc.params?.['post_logout_redirect_uri']));
  const t = loginMessages(locale);
  ctx.type = 'html';
  ctx.body = renderPage({
    locale,
    title: t('logout.title'),
    currentUrl: ctx.url,
    body: html`${heading(t('logout.title'))}<p class="ds-paragraph">${t('logout.question')}</p>${raw(form)}
<p><button class="ds-button" data-variant="primary" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">${t('logout.yes')}</button></p>
<p><button class="ds-button" data-variant="secondary" type="submit" form="op.logoutForm">${t('logout.no')}</button></p>`,
  });
}

export async function renderLoggedOutPage(ctx: KoaContextWithOIDC): Promise<void> {
  const locale = pickLocale({ query: ctx.query, headers: ctx.headers });
  const t = loginMessages(locale);
  ctx.type = 'html';
  ctx.body = renderPage({ locale, title: t('loggedOut.title'), currentUrl: ctx.url, body: html`${heading(t('loggedOut.title'))}<p class="ds-paragraph">${t('loggedOut.body')}</p>` });
}

/** Protocol errors shown to the person (when there is no redirect URI to send them to): the error code and description only. */
export async function renderOidcError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void> {
  const locale = pickLocale({ query: ctx.query, headers: ctx.headers });
  const t = loginMessages(locale);
  ctx.type = 'html';
  ctx.body = renderPage({
    locale,
    title: t('error.title'),
    currentUrl: ctx.url,
    body: html`${heading(t('error.title'))}<p class="ds-paragraph"><code>${out.error}</code>${out.error_description ? `: ${out.error_description}` : ''}</p><p class="ds-paragraph">${t('error.restart')}</p>`,
  });
}
