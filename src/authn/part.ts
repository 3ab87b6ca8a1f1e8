import { findPersonByServiceIdentity, loginAttributes } from '../directory/index.ts';
import { pkiFrom } from '../pki/index.ts';
import type { Part, PartFactory } from '../server/part.ts';
import { authnRoutes } from './http.ts';
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
export const createAuthnPart: PartFactory = async (context, started): Promise<Part> => {
  const pki = pkiFrom(started);
  const anchors = EID_CAS.map((id) => pki.caCertificate(id)!.certificate.toString('pem'));
  const verifyAnswer = createAnswerVerifier({
    trust: { anchors, policyLoa: pki.policyLoa, revocationStatus: (certificate) => pki.revocationStatusOf(certificate) },
    now: context.now,
    async resolvePerson(identifier): Promise<KnownPerson | undefined> {
      const person = /^\d{12}$/.test(identifier) ? await loginAttributes(context.db, identifier) : await findPersonByServiceIdentity(context.db, identifier, OPERATOR);
      if (!person) return undefined;
      return { personalIdentityNumber: person.personnummer, givenName: person.givenName, surname: person.surname, name: person.displayName ?? `${person.givenName} ${person.surname}` };
    },
  });
  const oob = context.config.oob;
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
  return {
    name: 'authn',
    title: { sv: 'Autentisering', en: 'Authentication' },
    description: {
      sv: 'Inloggning och underskrift med e-legitimationsappen (QR-kod eller samma enhet); API för identitetsutfärdare.',
      en: 'Login and signing with the eID app (QR code or this device); the order API for identity providers.',
    },
    links: [{ href: '/authn/enrol', label: { sv: 'Skaffa mobilt eID', en: 'Get a mobile eID' } }],
    https: async (app) => {
      await app.register(authnRoutes({ db: context.db, orders, enrolment }));
      await app.register(enrolPageRoutes({ orders, enrolment, ephemeral: context.ephemeral, now: () => context.now().getTime(), visitTtlMs: 15 * 60_000 }));
    },
    // The demo persons come from the directory part's seed; without it there is no one to give eIDs to.
    ...(started.has('directory') ? { seedDemo: () => seedDemoEids(context.config, pki, enrolment) } : {}),
    provides: { orders, enrolment } satisfies AuthnServices,
  };
};

export interface AuthnServices {
  readonly orders: OrderService;
  readonly enrolment: EnrolmentService;
}

/** The running authentication service, for parts started after it. */
export function authnFrom(started: ReadonlyMap<string, Part>): AuthnServices {
  const part = started.get('authn');
  if (!part) throw new Error('the authn part must run (and start before) the parts that use it');
  return part.provides as AuthnServices;
}
