import { readFile } from 'node:fs/promises';
import { findPersonByServiceIdentity, loginAttributes } from '../directory/index.ts';
import type { FastifyPluginAsync } from 'fastify';
import { pkiFrom, POLICY_SUFFIX, type Pki } from '../pki/index.ts';
import { functionCaCertificateMaker, loadOrCreateServerCertificate, type Part, type PartContext } from '../server/index.ts';
import { serverHostNames } from '../config/index.ts';
import type { CardCheckOptions } from './card-check.ts';
import { rollingHost } from './card-config.ts';
import { cardListenerRoutes, cardStartRoutes } from './card-http.ts';
import { createCardLoginService, type CardLoginService } from './card-login.ts';
import { openClientCertificateListener, type ClientCertificateListener } from './client-certificate-listener.ts';
import type { EidTrust } from './eid-certificate.ts';
import { checkFunctionClientCertificate, type FunctionClientCheck } from './function-client.ts';
import { testEidRoutes } from './test-eid.ts';
import { authnRoutes, callerByCertificate, orderApiRoutes } from './http.ts';
import { seedDemoEids } from './demo.ts';
import { enrolPageRoutes } from './enrol-page.ts';
import { createEnrolmentService, type EnrolmentService } from './enrolment.ts';
import { createOrderService, type OrderService } from './orders.ts';
import { createAnswerVerifier, type KnownPerson } from './verify-answer.ts';

/** The CAs whose certificates are eIDs: every person CA and the mobile CA, and their root. Test cards are not eIDs. */
const EID_CAS = ['root', 'person-hsa-loa3', 'person-pnr-loa3', 'mobile', 'person-hsa-loa2', 'person-pnr-loa2'] as const;
const OPERATOR = { mayViewProtectedIdentities: true };

/**
 * The authentication service: the order API for IdPs and the app API, with
 * answers checked against this installation's PKI and people looked up in
 * its directory. Needs the pki part (and uses the directory's tables).
 */
export async function createAuthnPart(context: PartContext, started: ReadonlyMap<string, Part>): Promise<Part> {
  const pki = pkiFrom(started);
  const anchors = EID_CAS.map((id) => pki.caCertificate(id)!.certificate.toString('pem'));
  const trust: EidTrust = { anchors, policyLoa: pki.policyLoa, revocationStatus: (certificate) => pki.revocationStatusOf(certificate) };
  async function resolvePerson(identifier: string): Promise<KnownPerson | undefined> {
    const person = /^\d{12}$/.test(identifier) ? await loginAttributes(context.db, identifier) : await findPersonByServiceIdentity(context.db, identifier, OPERATOR);
    if (!person) return undefined;
    return { personalIdentityNumber: person.personnummer, givenName: person.givenName, surname: person.surname, name: person.displayName ?? `${person.givenName} ${person.surname}` };
  }
  const verifyAnswer = createAnswerVerifier({ trust, now: context.now, resolvePerson });
  const oob = context.config.authn.oob;
  const orders = createOrderService({
    store: context.ephemeral,
    verifyAnswer,
    now: () => context.now().getTime(),
    orderTtlMs: oob.orderTtlSeconds * 1000,
    noClientAfterMs: oob.noClientAfterSeconds * 1000,
    qrMaxAgeSeconds: oob.qrMaxAgeSeconds,
    maxOrdersPerMinute: oob.maxOrdersPerMinute,
  });
  const enrolment = createEnrolmentService({ db: context.db, pki, now: context.now, codeTtlMinutes: oob.enrolmentCodeMinutes });
  const functionTrust: EidTrust = {
    anchors: (['root', 'function'] as const).map((id) => pki.caCertificate(id)!.certificate.toString('pem')),
    policyLoa: { [`${pki.policyArc}.${POLICY_SUFFIX.function}`]: 0 },
    revocationStatus: (certificate) => pki.revocationStatusOf(certificate),
  };
  const checkFunctionClient = (pem: string | undefined) => checkFunctionClientCertificate(pem, functionTrust, context.now());
  const cards = context.config.authn.mtls.enabled ? await openCardLogin(context, pki, { trust, resolvePerson }) : undefined;
  let callerListener: ClientCertificateListener | undefined;
  try {
    callerListener = context.config.authn.callerMtls.enabled
      ? await openClientCertificateListener({
          log: context.log,
          host: context.config.server.host,
          port: context.config.authn.callerMtls.port,
          ...(await serverCredentials(context, pki, serverHostNames(context.config.server.publicBaseUrl), 'tls-authn-callers')),
          acceptableCas: functionTrust.anchors,
          routes: orderApiRoutes({ orders, authenticate: callerByCertificate(context.db, checkFunctionClient) }),
        })
      : undefined;
  } catch (error) {
    // The part is not returned, so nobody else would close the card listener: a start that fails leaves nothing open.
    await cards?.listener.close();
    throw error;
  }
  if (callerListener) context.log.info({ port: callerListener.port }, 'order API for callers with a function certificate (mutual TLS) listening');
  return {
    name: 'authn',
    title: { sv: 'Autentisering', en: 'Authentication' },
    description: {
      sv: 'Inloggning och underskrift med e-legitimationsappen (QR-kod eller samma enhet); API för identitetsutfärdare.',
      en: 'Login and signing with the eID app (QR code or this device); the order API for identity providers.',
    },
    links: [
      { href: '/authn/test', label: { sv: 'Testa din e-legitimation', en: 'Test your eID' } },
      { href: '/authn/enrol', label: { sv: 'Skaffa mobilt eID', en: 'Get a mobile eID' } },
    ],
    https: async (app) => {
      await app.register(authnRoutes({ db: context.db, orders, enrolment }));
      await app.register(enrolPageRoutes({ orders, enrolment, ephemeral: context.ephemeral, now: () => context.now().getTime(), visitTtlMs: 15 * 60_000 }));
      if (cards) await app.register(cardStartRoutes(cards.service));
      await app.register(testEidRoutes({ publicBaseUrl: context.config.server.publicBaseUrl, store: context.ephemeral, orders, ...(cards ? { cards: cards.service } : {}), loadPerson: (personnummer) => loginAttributes(context.db, personnummer), now: context.now }));
    },
    // The demo persons come from the directory part's seed; without it there is no one to give eIDs to.
    ...(started.has('directory') ? { seedDemo: () => seedDemoEids(context.config, pki, enrolment) } : {}),
    provides: {
      orders,
      enrolment,
      ...(cards ? { cardLogins: cards.service } : {}),
      async openClientCertificateListener(input) {
        return openClientCertificateListener({ log: context.log, host: context.config.server.host, port: input.port, ...(await serverCredentials(context, pki, input.hostNames, input.folder)), acceptableCas: functionTrust.anchors, routes: input.routes });
      },
      checkFunctionClient,
      ...(callerListener ? { callerMtlsPort: callerListener.port } : {}),
    } satisfies AuthnServices,
    async stop() {
      await cards?.listener.close();
      await callerListener?.close();
    },
  };
}

export interface AuthnServices {
  readonly orders: OrderService;
  readonly enrolment: EnrolmentService;
  /** Card login over mutual TLS, when `authn.mtls.enabled`. */
  readonly cardLogins?: CardLoginService;
  /** A listener that asks for client certificates (offering the function CA), its TLS certificate from the function CA for `hostNames`, kept in `dataDir/<folder>`. */
  openClientCertificateListener(input: { readonly hostNames: readonly string[]; readonly port: number; readonly folder: string; readonly routes: FastifyPluginAsync }): Promise<ClientCertificateListener>;
  /** Checks a system's function client certificate (chain to the function CA, validity, clientAuth, revocation). */
  checkFunctionClient(pem: string | undefined): Promise<FunctionClientCheck>;
  /** Port of the order API for callers authenticated by function certificate, when `authn.callerMtls.enabled`. */
  readonly callerMtlsPort?: number;
}

/** The card login's listener on its rolling hosts, and the service the IdP and the test page start logins on. */
async function openCardLogin(context: PartContext, pki: Pki, check: CardCheckOptions): Promise<{ service: CardLoginService; listener: ClientCertificateListener }> {
  const config = context.config.authn.mtls;
  const publicBaseUrl = context.config.server.publicBaseUrl;
  const hostNames = Array.from({ length: config.maxAttempts }, (_, i) => rollingHost(config, publicBaseUrl, i + 1));
  const tls = config.tls.certFile && config.tls.keyFile
    ? { cert: await readFile(config.tls.certFile, 'utf8'), key: await readFile(config.tls.keyFile, 'utf8') }
    : await serverCredentials(context, pki, hostNames, 'tls-mtls');
  let port = config.port;
  const service = createCardLoginService({
    store: context.ephemeral,
    publicBaseUrl,
    attemptUrl: (n, requestId) => `https://${rollingHost(config, publicBaseUrl, n)}:${port}/authn/card/login?request=${requestId}`,
    maxAttempts: config.maxAttempts,
    checksPerRequest: config.checksPerRequest,
    requestTtlMs: config.requestSeconds * 1000,
    now: () => context.now().getTime(),
  });
  const listener = await openClientCertificateListener({
    log: context.log,
    host: context.config.server.host,
    port: config.port,
    ...tls,
    acceptableCas: check.trust.anchors,
    routes: cardListenerRoutes({ cards: service, check, publicBaseUrl, now: context.now }),
  });
  port = listener.port;
  context.log.info({ port, hosts: `${hostNames[0]} … ${hostNames.at(-1)}` }, 'card login (mutual TLS) listening');
  return { service, listener };
}

async function serverCredentials(context: PartContext, pki: Pki, hostNames: readonly string[], folder: string): Promise<{ cert: string; key: string }> {
  const made = await loadOrCreateServerCertificate(
    context.config.dataDir,
    hostNames,
    functionCaCertificateMaker((names) => pki.serverTls(names)),
    context.now(),
    folder,
  );
  return { cert: made.cert, key: made.key };
}

/** The running authentication service, for parts started after it. */
export function authnFrom(started: ReadonlyMap<string, Part>): AuthnServices {
  const part = started.get('authn');
  if (!part) throw new Error('the authn part must run (and start before) the parts that use it');
  return part.provides as AuthnServices;
}
