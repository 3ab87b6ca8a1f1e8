import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Queryable } from '../store/index.ts';
import { authenticateCaller, callerForCertificateSubject, type Caller } from './callers.ts';
import { peerCertificatePem } from './client-certificate-listener.ts';
import type { FunctionClientCheck } from './function-client.ts';
import { EnrolmentError, type EnrolmentErrorCode, type EnrolmentService } from './enrolment.ts';
import { OrderError, type OrderService } from './orders.ts';

/** HTTP status for each documented error code (as BankID's relying-party API answers). */
const STATUS: Record<OrderError['code'] | 'unauthorized', number> = {
  invalidParameters: 400,
  unauthorized: 401,
  notFound: 404,
  alreadyInProgress: 409,
  alreadyAnswered: 409,
  staleQr: 400,
  forgedQr: 400,
  tooManyRequests: 429,
};

const ENROLMENT_STATUS: Record<EnrolmentErrorCode, number> = {
  invalidParameters: 400,
  csrRefused: 400,
  unknownPerson: 404,
  unknownCode: 404,
  usedCode: 409,
  tooManyEids: 409,
  expiredCode: 410,
};

const requirementsSchema = z
  .strictObject({
    personalIdentityNumber: z.string().regex(/^\d{12}$/, 'twelve digits').optional(),
    hsaId: z.string().min(3).max(64).optional(),
    certificatePolicies: z.array(z.string().regex(/^\d+(\.\d+)+$/, 'a dotted OID')).max(20).optional(),
    minimumLoa: z.union([z.literal(2), z.literal(3)]).optional(),
  })
  .optional();

const startSchema = z.strictObject({
  endUserIp: z.string().min(2).max(45),
  requirement: requirementsSchema,
  userVisibleText: z.string().max(40_000).optional(),
});
const signSchema = startSchema.extend({ userVisibleText: z.string().min(1).max(40_000) });
const orderRefSchema = z.strictObject({ orderRef: z.string().max(64) });
const claimSchema = z.union([z.strictObject({ autoStartToken: z.string().max(64) }), z.strictObject({ qr: z.string().max(200) })]);
const answerSchema = z.strictObject({
  orderRef: z.string().max(64),
  nonce: z.string().max(128),
  signature: z.string().max(2048),
  certificate: z.string().max(16_384),
});
const enrolSchema = z.strictObject({ code: z.string().max(100), csr: z.string().max(65_536), deviceLabel: z.string().max(100).optional() });
const declineSchema = z.strictObject({ orderRef: z.string().max(64), nonce: z.string().max(128) });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
    throw new OrderError('invalidParameters', `${key}: ${issue.code === 'unrecognized_keys' ? 'not a known parameter' : issue.message}`);
  }
  return result.data;
}


/** Reads `Authorization: Basic id:secret`; undefined unless it names a registered caller with that secret. */
async function callerOf(db: Queryable, request: FastifyRequest): Promise<Caller | undefined> {
  const header = request.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  return authenticateCaller(db, decoded.slice(0, colon), decoded.slice(colon + 1));
}

/** Documented refusals become their error code; anything else goes on to the server's handler (500, no details). */
function replyWithErrorCode(app: FastifyInstance): void {
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof OrderError) return reply.code(STATUS[error.code]).send({ errorCode: error.code, details: error.message });
    if (error instanceof EnrolmentError) return reply.code(ENROLMENT_STATUS[error.code]).send({ errorCode: error.code, details: error.message });
    throw error;
  });
}

/** Who is calling, or why nobody is: a registered caller, or the refusal's details. */
export type CallerAuthentication = (request: FastifyRequest) => Promise<Caller | { readonly refused: string }>;

/** HTTP Basic with a registered caller's id and secret. */
export function callerBySecret(db: Queryable): CallerAuthentication {
  return async (request) => (await callerOf(db, request)) ?? { refused: 'a registered caller id and secret are required' };
}

/** The function client certificate of the TLS connection, checked, then the caller registered for its subject. */
export function callerByCertificate(db: Queryable, check: (pem: string | undefined) => Promise<FunctionClientCheck>): CallerAuthentication {
  return async (request) => {
    const checked = await check(peerCertificatePem(request));
    if (!checked.ok) return { refused: `the client certificate was refused: ${checked.reason}` };
    return (await callerForCertificateSubject(db, checked.subject)) ?? { refused: `no caller is registered for the certificate subject ${checked.subject}` };
  };
}

/** `/authn/v1`: the order API for relying IdPs (auth, sign, collect, cancel), its callers authenticated by `authenticate`. */
export function orderApiRoutes(deps: { orders: OrderService; authenticate: CallerAuthentication }): FastifyPluginAsync {
  return async (rp) => {
    replyWithErrorCode(rp);
    rp.decorateRequest('caller', null);
    rp.addHook('preHandler', async (request, reply) => {
      const caller = await deps.authenticate(request);
      if ('refused' in caller) {
        request.log.warn({ decision: 'authn caller refused', reason: caller.refused }, 'unauthenticated order API call');
        return reply.code(401).header('www-authenticate', 'Basic realm="tillit-authn"').send({ errorCode: 'unauthorized', details: caller.refused });
      }
      (request as FastifyRequest & { caller: Caller }).caller = caller;
    });
    const callerOfRequest = (request: FastifyRequest) => (request as FastifyRequest & { caller: Caller }).caller;

    for (const kind of ['auth', 'sign'] as const) {
      rp.post(`/authn/v1/${kind}`, async (request) => {
        const body = parse(kind === 'sign' ? signSchema : startSchema, request.body);
        const caller = callerOfRequest(request);
        return deps.orders.start({
          kind,
          requester: { clientId: caller.id, displayName: caller.displayName },
          endUserIp: body.endUserIp,
          ...(body.requirement ? { requirements: body.requirement } : {}),
          ...(body.userVisibleText !== undefined ? { userVisibleText: body.userVisibleText } : {}),
        });
      });
    }
    rp.post('/authn/v1/collect', async (request) => deps.orders.collect(parse(orderRefSchema, request.body).orderRef, callerOfRequest(request).id));
    rp.post('/authn/v1/cancel', async (request) => {
      await deps.orders.cancel(parse(orderRefSchema, request.body).orderRef, callerOfRequest(request).id);
      return {};
    });
  };
}

/**
 * `/authn/v1`: the order API for relying IdPs (callers with a secret),
 * and `/app/v1`: what the eID app calls (claim, answer, decline).
 */
export function authnRoutes(deps: { db: Queryable; orders: OrderService; enrolment?: EnrolmentService }): FastifyPluginAsync {
  return async (app) => {
    replyWithErrorCode(app);
    app.register(orderApiRoutes({ orders: deps.orders, authenticate: callerBySecret(deps.db) }));

    app.post('/app/v1/claim', async (request) => {
      const body = parse(claimSchema, request.body);
      return 'qr' in body ? deps.orders.claimByQr(body.qr) : deps.orders.claimByAutoStartToken(body.autoStartToken);
    });
    app.post('/app/v1/answer', async (request) => {
      const body = parse(answerSchema, request.body);
      const result = await deps.orders.answer(body.orderRef, body.nonce, { signature: body.signature, certificatePem: body.certificate });
      // The app learns only the outcome; the person's data goes to the caller through collect.
      return result.status === 'complete' ? { status: 'complete' } : result;
    });
    app.post('/app/v1/started', async (request) => {
      await deps.orders.noteStarted(parse(claimSchema, request.body));
      return {};
    });
    const enrolment = deps.enrolment;
    if (enrolment) {
      app.post('/app/v1/enrol', async (request) => {
        const body = parse(enrolSchema, request.body);
        const enrolled = await enrolment.redeem(body.code, body.csr, body.deviceLabel);
        request.log.info({ decision: 'mobile eID enrolled', serial: enrolled.serial }, 'mobile eID enrolled');
        return { serial: enrolled.serial, certificate: enrolled.certificatePem, chain: enrolled.chainPem, notAfter: enrolled.notAfter.toISOString() };
      });
    }
    app.post('/app/v1/decline', async (request) => {
      const body = parse(declineSchema, request.body);
      await deps.orders.decline(body.orderRef, body.nonce);
      return {};
    });
  };
}
