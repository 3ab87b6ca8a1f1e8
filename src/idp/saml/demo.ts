import { randomBytes } from 'node:crypto';
import { parse as parseForm } from 'node:querystring';
import { deflateRawSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { rememberLocale, sendPage } from '../../server/index.ts';
import type { Database, EphemeralStore } from '../../store/index.ts';
import { defineMessages, html, renderPage, type Locale } from '../../web/index.ts';
import { CLAIM_NAMES } from '../claims/index.ts';
import { readCookie } from '../session/index.ts';
import { BINDINGS, idpEndpoints } from './metadata.ts';
import { SignatureRefused, verifyEnvelopedRoot } from './signing.ts';
import { addServiceProvider } from './sps.ts';
import { STATUS } from './status.ts';
import { NS, XmlRefused, child, children, descendants, parseStrict, textOf, xmlBuilder } from './xml.ts';

const COOKIE = 'tillit_demo_saml';
const TTL_MS = 3_600_000;

const messages = defineMessages({
  sv: {
    title: 'Demo-e-tjänst (SAML)',
    intro: 'En liten e-tjänst som loggar in med Tillits SAML-IdP och visar intyget (src/idp/saml/demo.ts).',
    login: 'Logga in med SAML',
    attributes: 'Attribut i intyget',
    subject: 'NameID',
    loa: 'Tillitsnivå',
    failed: 'Inloggningen gav inget intyg',
  },
  en: {
    title: 'Demo e-service (SAML)',
    intro: 'A small e-service that logs in with Tillit’s SAML IdP and shows the assertion (src/idp/saml/demo.ts).',
    login: 'Log in with SAML',
    attributes: 'Attributes in the assertion',
    subject: 'NameID',
    loa: 'Level of assurance',
    failed: 'The login gave no assertion',
  },
});

interface DemoLogin {
  readonly nameId?: string;
  readonly loa?: string;
  readonly attributes?: readonly (readonly [string, string])[];
  readonly error?: string;
}

const demoEntityId = (baseUrl: string) => `${baseUrl}/demo/saml`;

/** Registers the demo SP from metadata it writes itself, as an e-service would hand it over. */
export async function ensureDemoSp(db: Database, baseUrl: string, now: Date): Promise<void> {
  const b = xmlBuilder(NS.md, 'md:EntityDescriptor');
  b.fillRoot({ entityID: demoEntityId(baseUrl) }, [
    b.el(NS.md, 'md:SPSSODescriptor', { protocolSupportEnumeration: 'urn:oasis:names:tc:SAML:2.0:protocol' }, [
      b.el(NS.md, 'md:AssertionConsumerService', { index: 0, isDefault: true, Binding: BINDINGS.post, Location: `${baseUrl}/demo/saml/acs` }),
    ]),
    b.el(NS.md, 'md:Organization', {}, [
      b.el(NS.md, 'md:OrganizationName', { 'xml:lang': 'sv' }, ['Tillit demo']),
      b.el(NS.md, 'md:OrganizationDisplayName', { 'xml:lang': 'sv' }, ['Demo-e-tjänst (SAML)']),
      b.el(NS.md, 'md:OrganizationURL', { 'xml:lang': 'sv' }, [`${baseUrl}/demo/saml`]),
    ]),
  ]);
  // The signed Response covers the assertion: the demo reads it from those bytes, one signature.
  await addServiceProvider(db, { metadataXml: b.serialize(), metadataSource: 'built-in demo', attributes: [...CLAIM_NAMES], methods: ['oob-other', 'oob-same'], signAssertions: false }, now, { replace: true });
}

/**
 * `/demo/saml`: an SP built in. It sends an unsigned AuthnRequest over the
 * Redirect binding and reads the Response only from the bytes the IdP's
 * signature covers.
 */
export function demoRoutes(options: { baseUrl: string; ephemeral: EphemeralStore; idpCertificateBase64: string; now: () => Date }) {
  const endpoints = idpEndpoints(options.baseUrl);
  const acs = `${options.baseUrl}/demo/saml/acs`;
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1 << 20 }, (_request, body, done) => done(null, parseForm(body as string)));

    app.get('/demo/saml', async (request, reply) => {
      const locale = rememberLocale(request, reply);
      const raw = await options.ephemeral.get(`demo-saml:${readCookie(request.headers.cookie, COOKIE) ?? '-'}`);
      return sendPage(reply, page(locale, request.url, raw ? (JSON.parse(raw) as DemoLogin) : null));
    });

    app.get('/demo/saml/login', async (_request, reply) => {
      const id = `_${randomBytes(20).toString('hex')}`;
      const key = randomBytes(16).toString('hex');
      await options.ephemeral.set(`demo-saml-request:${key}`, id, 600_000);
      const b = xmlBuilder(NS.samlp, 'samlp:AuthnRequest');
      b.fillRoot({ 'xmlns:saml': NS.saml, ID: id, Version: '2.0', IssueInstant: options.now().toISOString(), Destination: endpoints.sso, AssertionConsumerServiceURL: acs, ProtocolBinding: BINDINGS.post }, [b.el(NS.saml, 'saml:Issuer', {}, [demoEntityId(options.baseUrl)])]);
      const query = new URLSearchParams({ SAMLRequest: deflateRawSync(b.serialize()).toString('base64'), RelayState: key });
      return reply.redirect(`${endpoints.sso}?${query}`, 303);
    });

    app.post<{ Body: Record<string, string | undefined> }>('/demo/saml/acs', async (request, reply) => {
      const key = String(request.body?.['RelayState'] ?? '');
      const expected = /^[0-9a-f]{32}$/.test(key) ? await options.ephemeral.take(`demo-saml-request:${key}`) : null;
      const login = expected ? readResponse(String(request.body?.['SAMLResponse'] ?? ''), expected) : { error: 'no login was started here' };
      const session = randomBytes(24).toString('base64url');
      await options.ephemeral.set(`demo-saml:${session}`, JSON.stringify(login), TTL_MS);
      reply.header('set-cookie', `${COOKIE}=${session}; Path=/demo/saml; Max-Age=${TTL_MS / 1000}; HttpOnly; Secure; SameSite=Lax`);
      return reply.redirect('/demo/saml', 303);
    });
  };

  /** The Response, checked as an SP must: signed by the IdP, for this ACS and request, successful; values from the signed bytes. */
  function readResponse(encoded: string, requestId: string): DemoLogin {
    try {
      const xml = Buffer.from(encoded, 'base64').toString('utf8');
      const doc = parseStrict(xml, 1 << 20);
      const response = parseStrict(verifyEnvelopedRoot(doc, xml, [options.idpCertificateBase64]), 1 << 20).documentElement!;
      if (response.localName !== 'Response' || response.getAttribute('Destination') !== acs || response.getAttribute('InResponseTo') !== requestId) return { error: 'a response for another request or place' };
      const code = descendants(response, NS.samlp, 'StatusCode').map((c) => c.getAttribute('Value'));
      if (code[0] !== STATUS.success) return { error: code.filter(Boolean).join(' / ') };
      const assertion = child(response, NS.saml, 'Assertion');
      if (!assertion) return { error: 'no assertion in the clear' };
      const statement = child(assertion, NS.saml, 'AttributeStatement');
      const attributes = (statement ? children(statement, NS.saml, 'Attribute') : []).flatMap((a) => children(a, NS.saml, 'AttributeValue').map((v) => [a.getAttribute('Name') ?? '', textOf(v)] as const));
      return { nameId: textOf(descendants(assertion, NS.saml, 'NameID')[0]!), loa: textOf(descendants(assertion, NS.saml, 'AuthnContextClassRef')[0]!), attributes };
    } catch (error) {
      if (error instanceof SignatureRefused || error instanceof XmlRefused) return { error: error.message };
      throw error;
    }
  }
}

function page(locale: Locale, currentUrl: string, login: DemoLogin | null): string {
  const t = messages(locale);
  return renderPage({
    locale,
    title: t('title'),
    currentUrl,
    body: html`<h1 class="ds-heading" data-size="lg">${t('title')}</h1>
<p class="ds-paragraph">${t('intro')}</p>
<p><a class="ds-button" data-variant="primary" href="/demo/saml/login">${t('login')}</a></p>
${login?.error ? html`<p class="ds-paragraph" role="alert">${t('failed')}: ${login.error}</p>` : ''}
${
  login?.attributes
    ? html`<h2 class="ds-heading" data-size="md">${t('attributes')}</h2>
<dl class="ds-paragraph"><dt>${t('subject')}</dt><dd>${login.nameId ?? ''}</dd><dt>${t('loa')}</dt><dd>${login.loa ?? ''}</dd>
${login.attributes.map(([name, value]) => html`<dt>${name}</dt><dd>${value}</dd>`)}</dl>`
    : ''
}`,
  });
}

