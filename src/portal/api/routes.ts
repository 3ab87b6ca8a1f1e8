import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { loadActor, type Principal } from '../access.ts';
import type { CardContext } from '../cards/context.ts';
import { handOutAndActivate } from '../cards/handout.ts';
import { confirmReserve, orderCard, withdrawOrder } from '../cards/orders.ts';
import { exportBatch, importReturn, type BatchSigner } from '../cards/production.ts';
import { registerRevocation } from '../cards/revocation.ts';
import { adjustStock, stockLevel } from '../cards/stock.ts';
import { startCardUnlock, unlockCard } from '../cards/unlock.ts';
import { HTTP_STATUS, PortalRefused } from '../errors.ts';
import { searchPeople, unknownHolderCertificates, viewPerson } from '../person-view.ts';
import { appointRole, listAssignments, removeRole } from '../role-store.ts';
import { roleRemovalSuggestions } from '../jobs/stale-roles.ts';
import { authorize, placeTarget } from '../access.ts';
import * as schemas from './schemas.ts';
import type { FunctionContext } from '../function/context.ts';
import { FUNCTION_API_ROUTES } from '../function/api.ts';
import { SELF_SERVICE_API_ROUTES } from '../self-service/api.ts';
import { REPORT_API_ROUTES } from '../reports/api.ts';
import { FileAnswer } from './file-answer.ts';
import type { EnrolmentService } from '../../authn/index.ts';

export const API_BASE = '/portal/api';

/** Who is calling: the HSA-id of the signed-in administrator, or null when the credentials are missing or not valid. */
export type Authenticator = (request: FastifyRequest) => Promise<string | null>;

export interface ApiDependencies {
  readonly cards: CardContext;
  readonly signer: () => Promise<BatchSigner>;
  readonly authenticate: Authenticator;
  /** Function certificates and domain validation; absent: those routes answer 404. */
  readonly functions?: FunctionContext;
  /** Mobile eID enrolment (the authn part's); absent: the self-service mobile eID routes answer 404. */
  readonly enrolment?: EnrolmentService;
}

export interface Input {
  /** The caller's address (for the login orders the portal starts). */
  readonly ip: string;
  readonly params: any;
  readonly query: any;
  readonly body: any;
}

export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI style: /orders/{id} */
  readonly path: string;
  readonly summary: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** 201 for what creates something. */
  readonly status?: number;
  /** Also answers text/csv (with format=csv). */
  readonly csv?: boolean;
  handle(input: Input, actor: Principal, deps: ApiDependencies): Promise<unknown>;
}

const ordersOf = (d: ApiDependencies) => {
  if (!d.cards.orders) throw new PortalRefused('conflict', 'card unlock needs the authentication service (part authn) to run');
  return d.cards.orders;
};

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** Every action the portal offers, once: the table drives the routes and the OpenAPI document. */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/me', summary: 'The caller and their role assignments', handle: async (_input, actor) => actor },
  { method: 'GET', path: '/persons', summary: 'Search persons by personnummer, HSA-id or name', query: schemas.personSearchQuery, handle: async ({ query }, actor, d) => searchPeople(d.cards.db, actor, query.q) },
  {
    method: 'GET',
    path: '/persons/{personnummer}',
    summary: "A person: service identities, commissions, cards and their certificates' status",
    params: schemas.personParams,
    handle: async ({ params }, actor, d) => viewPerson(d.cards.db, d.cards.pki, actor, params.personnummer, d.cards.mobileEidsOf),
  },
  {
    method: 'GET',
    path: '/unknown-holder-certificates',
    summary: "Certificates in force of the organisation's cards whose holder the directory no longer knows (to revoke)",
    query: schemas.rolesQuery,
    handle: async ({ query }, actor, d) => unknownHolderCertificates(d.cards.db, actor, query.organisation, d.cards.now()),
  },
  {
    method: 'POST',
    path: '/orders',
    summary: 'Order a card (ordinary, reserve or test)',
    body: schemas.orderBody,
    status: 201,
    handle: async ({ body }, actor, d) => orderCard(d.cards, actor, { ...body, photo: body.photo === null ? null : Buffer.from(body.photo, 'base64') }),
  },
  { method: 'POST', path: '/orders/{id}/confirm', summary: 'Confirm a LoA 3 reserve card (a second ID administrator)', params: schemas.idParams, handle: async ({ params }, actor, d) => confirmReserve(d.cards, actor, params.id) },
  { method: 'POST', path: '/orders/{id}/withdraw', summary: 'Withdraw an order until the card is produced', params: schemas.idParams, handle: async ({ params }, actor, d) => withdrawOrder(d.cards, actor, params.id) },
  {
    method: 'GET',
    path: '/stock',
    summary: "An office's reserve-card stock",
    query: schemas.stockQuery,
    handle: async ({ query }, actor, d) => {
      authorize(actor, 'stock.manage', await placeTarget(d.cards.db, query.organisation, query.office));
      return stockLevel(d.cards.db, query.organisation, query.office, d.cards.config.lowStockThreshold);
    },
  },
  { method: 'POST', path: '/stock', summary: 'Record reserve cards received or discarded at an office', body: schemas.stockBody, handle: async ({ body }, actor, d) => adjustStock(d.cards, actor, body) },
  {
    method: 'POST',
    path: '/production/batches',
    summary: "Export the organisation's ready orders as a signed batch for the card manufacturer",
    body: schemas.batchBody,
    status: 201,
    handle: async ({ body }, actor, d) => {
      const batch = await exportBatch(d.cards, actor, body.organisation, await d.signer());
      return { ...batch, photos: batch.photos.map((p) => ({ file: p.file, type: p.type, content: base64(p.bytes) })) };
    },
  },
  { method: 'POST', path: '/production/returns', summary: "Read the manufacturer's return file: certificates issued on hold, cards sent", body: schemas.returnBody, handle: async ({ body }, actor, d) => importReturn(d.cards, actor, body.content) },
  {
    method: 'POST',
    path: '/cards/{id}/hand-out',
    summary: 'Hand out and activate a card after the seven-step identity check',
    params: schemas.idParams,
    body: schemas.handOutBody,
    handle: async ({ params, body }, actor, d) => handOutAndActivate(d.cards, actor, { cardId: params.id, ...body }),
  },
  {
    method: 'POST',
    path: '/cards/{id}/unlock/login',
    summary: "Start the holder's mobile eID login for unlocking their PIN-blocked card (the holder approves it in the eID app)",
    params: schemas.idParams,
    status: 201,
    handle: async ({ params, ip }, actor, d) => startCardUnlock(d.cards, ordersOf(d), actor, params.id, ip),
  },
  {
    method: 'POST',
    path: '/cards/{id}/unlock',
    summary: "Answer the card's unlock challenge after the holder's approved mobile eID login",
    params: schemas.idParams,
    body: schemas.unlockBody,
    handle: async ({ params, body }, actor, d) => unlockCard(d.cards, ordersOf(d), actor, { cardId: params.id, ...body }),
  },
  {
    method: 'POST',
    path: '/cards/{id}/revocations',
    summary: 'Register a revocation request and revoke',
    params: schemas.idParams,
    body: schemas.revocationBody,
    status: 201,
    handle: async ({ params, body }, actor, d) => registerRevocation(d.cards, actor, { cardId: params.id, ...body, receivedAt: new Date(body.receivedAt) }),
  },
  {
    method: 'GET',
    path: '/roles',
    summary: "An organisation's role assignments",
    query: schemas.rolesQuery,
    handle: async ({ query }, actor, d) => {
      authorize(actor, 'person.view', { organisation: query.organisation, units: [] });
      return listAssignments(d.cards.db, query.organisation);
    },
  },
  {
    method: 'POST',
    path: '/roles',
    summary: 'Appoint a role (responsible or deputy issuer)',
    body: schemas.roleBody,
    status: 201,
    handle: async ({ body }, actor, d) => appointRole(d.cards.db, actor, { ...body, trainedOn: body.trainedOn ? new Date(`${body.trainedOn}T00:00:00Z`) : null }, d.cards.now()),
  },
  {
    method: 'DELETE',
    path: '/roles/{id}',
    summary: 'Remove a role assignment',
    params: schemas.idParams,
    handle: async ({ params }, actor, d) => {
      await removeRole(d.cards.db, actor, params.id, d.cards.now());
      return { removed: params.id };
    },
  },
  {
    method: 'GET',
    path: '/role-removal-suggestions',
    summary: "Role assignments in the organisation whose holder has no matching commission any more (suggested by the portal-stale-roles job; only those the caller may remove)",
    query: schemas.rolesQuery,
    handle: async ({ query }, actor, d) => roleRemovalSuggestions(d.cards.db, actor, query.organisation),
  },
  ...FUNCTION_API_ROUTES,
  ...SELF_SERVICE_API_ROUTES,
  ...REPORT_API_ROUTES,
];

function problem(reply: FastifyReply, status: number, title: string, detail: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type('application/problem+json').header('cache-control', 'no-store').send({ status, title, detail, ...extra });
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new PortalRefused('invalid', `${where}: ${result.error.issues.map((i) => `${i.path.join('.') || '(whole)'}: ${i.message}`).join('; ')}`);
  return result.data;
}

/** The API under /portal/api: the caller authenticated and their roles loaded on every request, input parsed by the schemas. */
export function apiRoutes(deps: ApiDependencies) {
  return async (app: FastifyInstance) => {
    app.get(`${API_BASE}/openapi.json`, async (_request, reply) => reply.header('cache-control', 'no-cache').send(openApiDocument()));
    for (const route of API_ROUTES) {
      app.route({
        method: route.method,
        url: `${API_BASE}${route.path.replace(/\{(\w+)\}/g, ':$1')}`,
        bodyLimit: 32 * 1024 * 1024,
        handler: async (request, reply) => {
          const hsaId = await deps.authenticate(request);
          if (!hsaId) {
            reply.header('www-authenticate', 'Bearer realm="tillit-portal"');
            return problem(reply, 401, 'Not signed in', 'send an access token from Tillit’s identity provider: Authorization: Bearer <token>');
          }
          try {
            const input = { ip: request.ip, params: parse(route.params, request.params, 'path'), query: parse(route.query, request.query, 'query'), body: parse(route.body, request.body, 'body') };
            const actor = await loadActor(deps.cards.db, hsaId, deps.cards.now(), deps.cards.config.trainingValidForDays);
            const result = await route.handle(input, actor, deps);
            if (result instanceof FileAnswer) {
              return reply.code(route.status ?? 200).type(result.type).header('content-disposition', `attachment; filename="${result.fileName}"`).header('cache-control', 'no-store').send(result.body);
            }
            return reply.code(route.status ?? 200).header('cache-control', 'no-store').send(result);
          } catch (error) {
            if (error instanceof PortalRefused) {
              // Every refused permission is logged once, here, where the API decides it.
              if (error.kind === 'forbidden') request.log.info({ decision: 'portal forbidden', actor: hsaId, route: route.path }, error.message);
              return problem(reply, HTTP_STATUS[error.kind], error.kind, error.message);
            }
            throw error;
          }
        },
      });
    }
  };
}

let cachedDocument: unknown;

/** OpenAPI 3.1, generated from the same zod schemas that parse the input. */
export function openApiDocument(): unknown {
  if (cachedDocument) return cachedDocument;
  const json = (schema: z.ZodType) => {
    const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    return rest;
  };
  const parameters = (schema: z.ZodObject | undefined, where: 'path' | 'query') =>
    schema
      ? Object.entries(schema.shape).map(([name, field]) => ({ name, in: where, required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success, schema: json(field as z.ZodType) }))
      : [];
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const operation: Record<string, unknown> = {
      summary: route.summary,
      operationId: `${route.method.toLowerCase()}${route.path.replace(/\{(\w+)\}/g, 'By-$1').replace(/[/-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      security: [{ bearer: [] }],
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      responses: {
        [String(route.status ?? 200)]: { description: 'done', content: { 'application/json': { schema: {} }, ...(route.csv ? { 'text/csv': { schema: { type: 'string' } } } : {}) } },
        '400': { $ref: '#/components/responses/problem' },
        '401': { $ref: '#/components/responses/problem' },
        '403': { $ref: '#/components/responses/problem' },
        '404': { $ref: '#/components/responses/problem' },
        '409': { $ref: '#/components/responses/problem' },
      },
    };
    if (route.body) operation['requestBody'] = { required: true, content: { 'application/json': { schema: json(route.body) } } };
    (paths[`${API_BASE}${route.path}`] ??= {})[route.method.toLowerCase()] = operation;
  }
  cachedDocument = {
    openapi: '3.1.0',
    info: { title: 'Tillit eID portal API', version: '1', description: 'Every action of the eID portal. Each request is checked against the caller’s roles for the organisation or unit concerned.' },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: "an access token Tillit's identity provider issued to the portal's client, with the employee scope" } },
      responses: {
        problem: {
          description: 'refused: the detail says what was wrong and what to do',
          content: { 'application/problem+json': { schema: { type: 'object', properties: { status: { type: 'integer' }, title: { type: 'string' }, detail: { type: 'string' } }, required: ['status', 'title', 'detail'] } } },
        },
      },
    },
  };
  return cachedDocument;
}
