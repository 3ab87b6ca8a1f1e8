import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromAcceptLanguage, html, pickLocale, raw, renderPage, translator, withLang } from './index.ts';

describe('html templates', () => {
  it('escapes every interpolated value, including inside arrays', () => {
    const name = '<script>alert("x")</script>';
    const out = html`<p title="${name}">${name}</p><ul>${['a&b', "o'k"].map((v) => html`<li>${v}</li>`)}</ul>`;
    assert.equal(out.value, '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p><ul><li>a&amp;b</li><li>o&#39;k</li></ul>');
  });

  it('keeps nested templates and trusted markup, drops null, undefined and false', () => {
    assert.equal(html`${html`<b>${'x'}</b>`}${raw('<br>')}${null}${undefined}${false}${0}`.value, '<b>x</b><br>0');
  });
});

describe('page language', () => {
  const request = (query: Record<string, string>, headers: Record<string, string>) => ({ query, headers });

  it('prefers the explicit switch, then the cookie, then Accept-Language, then Swedish', () => {
    assert.equal(pickLocale(request({ lang: 'en' }, { cookie: 'tillit_lang=sv', 'accept-language': 'sv' })), 'en');
    assert.equal(pickLocale(request({}, { cookie: 'a=b; tillit_lang=en', 'accept-language': 'sv' })), 'en');
    assert.equal(pickLocale(request({}, { 'accept-language': 'en-GB,en;q=0.9' })), 'en');
    assert.equal(pickLocale(request({ lang: 'de' }, { cookie: 'tillit_lang=fr' })), 'sv');
  });

  it('reads Accept-Language by quality and ignores languages it lacks', () => {
    assert.equal(fromAcceptLanguage('de-DE, en;q=0.5, sv;q=0.8'), 'sv');
    assert.equal(fromAcceptLanguage('de, en;q=0.1'), 'en');
    assert.equal(fromAcceptLanguage('en;q=0, fr'), 'sv');
    assert.equal(fromAcceptLanguage(undefined), 'sv');
  });

  it('has every message in both languages, and they differ where they should', () => {
    const sv = translator('sv');
    const en = translator('en');
    assert.equal(sv('start.title'), 'Start');
    assert.equal(en('nav.skip'), 'Skip to content');
    assert.equal(sv('nav.skip'), 'Hoppa till innehållet');
  });

  it('builds the language switch link from the current URL', () => {
    assert.equal(withLang('/portal/persons?q=%C3%A5sa&lang=sv', 'en'), '/portal/persons?q=%C3%A5sa&lang=en');
  });
});

describe('page frame', () => {
  it('declares the language, offers a skip link and escapes the title', () => {
    const page = renderPage({ locale: 'en', title: 'A <b>title</b>', currentUrl: '/x', body: html`<p>body</p>` });
    assert.match(page, /^<!doctype html>\n<html lang="en"/);
    assert.match(page, /<title>A &lt;b&gt;title&lt;\/b&gt; – Tillit<\/title>/);
    assert.match(page, /<a class="ds-skip-link" href="#main">Skip to content<\/a>/);
    assert.match(page, /<main id="main"[^>]*>\n<p>body<\/p>/);
    assert.match(page, /href="\/x\?lang=sv" hreflang="sv" lang="sv">På svenska</);
    assert.doesNotMatch(page, /<script|style=/);
  });
});
