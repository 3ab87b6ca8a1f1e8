import { html, renderPage, translator, type Locale } from '../web/index.ts';
import type { Part } from './part.ts';

export interface StartPageModel {
  readonly locale: Locale;
  readonly currentUrl: string;
  readonly regionName: string;
  readonly parts: readonly Part[];
}

export function renderStartPage(model: StartPageModel): string {
  const t = translator(model.locale);
  const l = model.locale;
  const parts = model.parts.length
    ? html`<ul class="tillit-parts">${model.parts.map(
        (part) => html`<li class="ds-card" data-part="${part.name}">
  <h3 class="ds-heading" data-size="sm">${part.title[l]}</h3>
  <p class="ds-paragraph">${part.description[l]}</p>
  ${part.links.length ? html`<ul>${part.links.map((link) => html`<li><a class="ds-link" href="${link.href}">${link.label[l]}</a></li>`)}</ul>` : ''}
</li>`,
      )}</ul>`
    : html`<p class="ds-paragraph">${t('start.noParts')}</p>`;
  return renderPage({
    locale: model.locale,
    title: t('start.title'),
    currentUrl: model.currentUrl,
    body: html`<h1 class="ds-heading" data-size="lg">${t('site.name')}</h1>
<p class="ds-paragraph">${t('start.region')}: <strong>${model.regionName}</strong>. ${t('start.intro')}</p>
<h2 class="ds-heading" data-size="md">${t('start.parts')}</h2>
${parts}
<h2 class="ds-heading" data-size="md">${t('start.operations')}</h2>
<ul>
  <li><a class="ds-link" href="/healthz">${t('start.health')}</a></li>
  <li><a class="ds-link" href="/readyz">${t('start.ready')}</a></li>
  <li><a class="ds-link" href="/metrics">${t('start.metrics')}</a></li>
</ul>`,
  });
}
