import { z } from 'zod';
import type { ApiDependencies, ApiRoute } from '../api/routes.ts';
import { PortalRefused } from '../errors.ts';
import {
  certificatesOfObject,
  downloadFunctionCertificate,
  FUNCTION_PROFILES,
  FUNCTION_REVOCATION_REASONS,
  orderFunctionCertificate,
  renewFunctionCertificate,
  revokeFunctionCertificate,
} from './certificates.ts';
import type { FunctionContext } from './context.ts';
import { failingFunctionObjects, validateDomain, validationsOf, VALIDATION_METHODS, withdrawValidation } from './domains.ts';
import { authorisedObjects, authoriseOrderer, authorizeOrdering, removeOrderer } from './orderers.ts';

/** Function certificates and domain validation in the portal API; parsed by these schemas, listed in the same OpenAPI document. */

const hsaId = z.string().regex(/^SE\d+-[A-Z0-9]+$/, 'an HSA-id like SE2321000016-ABC1').max(31);
const csr = z.string().min(100).max(64 * 1024).describe('a PKCS#10 certificate request, PEM');
const serialParams = z.strictObject({ serial: z.string().regex(/^[0-9a-fA-F]{1,40}$/, 'a certificate serial number in hex') });
const objectParams = z.strictObject({ hsaId });
const organisationQuery = z.strictObject({ organisation: hsaId });
const idParams = z.strictObject({ id: z.coerce.number().int().positive().describe('validation or authorisation id') });

export const functionSchemas = {
  domainBody: z.strictObject({
    organisation: hsaId,
    domain: z.string().min(3).max(253).describe('the domain the organisation controls, e.g. region.example'),
    method: z.enum(VALIDATION_METHODS),
    evidence: z.string().min(1).max(500).describe('what was checked: the TXT value, the URL, the document reference'),
    validUntil: z.iso.datetime({ offset: true }).describe('until when the validation may be relied on (at most 398 days)'),
  }),
  ordererBody: z.strictObject({ orderer: hsaId.describe('the service identity (HSA-id) allowed to order for the object') }),
  orderBody: z.strictObject({ functionObject: hsaId, profile: z.enum(FUNCTION_PROFILES), csr }),
  renewBody: z.strictObject({ csr }),
  revokeBody: z.strictObject({ reason: z.enum(FUNCTION_REVOCATION_REASONS) }),
  downloadQuery: z.strictObject({ format: z.enum(['pem', 'pkcs7']).default('pem').describe('pem: the chain, leaf first; pkcs7: certs-only PKCS#7, base64 DER') }),
};

function functions(deps: ApiDependencies): FunctionContext {
  if (!deps.functions) throw new PortalRefused('not-found', 'function certificates are not offered by this installation');
  return deps.functions;
}

export const FUNCTION_API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET',
    path: '/domains',
    summary: "An organisation's validated domains, and the function objects failing validation (validation specialist)",
    query: organisationQuery,
    handle: async ({ query }, actor, d) => {
      const failing = await failingFunctionObjects(functions(d), actor, query.organisation);
      return { validations: await validationsOf(functions(d).db, query.organisation), failing };
    },
  },
  {
    method: 'POST',
    path: '/domains',
    summary: 'Record a domain validation: method, evidence, until when (validation specialist)',
    body: functionSchemas.domainBody,
    status: 201,
    handle: async ({ body }, actor, d) => validateDomain(functions(d), actor, { ...body, validUntil: new Date(body.validUntil) }),
  },
  {
    method: 'DELETE',
    path: '/domains/{id}',
    summary: 'Withdraw a domain validation (validation specialist)',
    params: idParams,
    handle: async ({ params }, actor, d) => {
      await withdrawValidation(functions(d), actor, params.id);
      return { withdrawn: params.id };
    },
  },
  {
    method: 'POST',
    path: '/function-objects/{hsaId}/orderers',
    summary: 'Authorise an orderer for a function object (responsible issuer)',
    params: objectParams,
    body: functionSchemas.ordererBody,
    status: 201,
    handle: async ({ params, body }, actor, d) => authoriseOrderer(functions(d), actor, params.hsaId, body.orderer),
  },
  {
    method: 'DELETE',
    path: '/function-orderers/{id}',
    summary: "End an orderer's authorisation (responsible issuer)",
    params: idParams,
    handle: async ({ params }, actor, d) => {
      await removeOrderer(functions(d), actor, params.id);
      return { removed: params.id };
    },
  },
  {
    method: 'GET',
    path: '/function-objects',
    summary: 'The function objects the caller may order certificates for, searched by HSA-id, name or DNS name',
    query: z.strictObject({ q: z.string().trim().max(100).default('').describe('words that must all occur in the HSA-id, name, DNS names or mail') }),
    handle: async ({ query }, actor, d) => ('hsaId' in actor ? authorisedObjects(functions(d).db, actor.hsaId, query.q) : []),
  },
  {
    method: 'GET',
    path: '/function-objects/{hsaId}/certificates',
    summary: "A function object's certificates (authorised orderer)",
    params: objectParams,
    handle: async ({ params }, actor, d) => {
      await authorizeOrdering(functions(d).db, actor, params.hsaId);
      return certificatesOfObject(functions(d).db, params.hsaId);
    },
  },
  {
    method: 'POST',
    path: '/function-certificates',
    summary: 'Order a function certificate from a CSR (authorised orderer)',
    body: functionSchemas.orderBody,
    status: 201,
    handle: async ({ body }, actor, d) => orderFunctionCertificate(functions(d), actor, { functionObject: body.functionObject, profile: body.profile, csrPem: body.csr }),
  },
  {
    method: 'GET',
    path: '/function-certificates/{serial}/download',
    summary: 'Download the certificate with its chain as PEM or certs-only PKCS#7; the first download supersedes a renewed predecessor',
    params: serialParams,
    query: functionSchemas.downloadQuery,
    handle: async ({ params, query }, actor, d) => {
      const { certificate, body } = await downloadFunctionCertificate(functions(d), actor, params.serial, query.format);
      return { certificate, format: query.format, content: typeof body === 'string' ? body : Buffer.from(body).toString('base64') };
    },
  },
  {
    method: 'POST',
    path: '/function-certificates/{serial}/renew',
    summary: 'Renew with a new CSR; the old certificate is revoked (superseded) when the new one is fetched, or after the grace period',
    params: serialParams,
    body: functionSchemas.renewBody,
    status: 201,
    handle: async ({ params, body }, actor, d) => renewFunctionCertificate(functions(d), actor, params.serial, body.csr),
  },
  {
    method: 'POST',
    path: '/function-certificates/{serial}/revoke',
    summary: 'Revoke a function certificate with a reason',
    params: serialParams,
    body: functionSchemas.revokeBody,
    handle: async ({ params, body }, actor, d) => revokeFunctionCertificate(functions(d), actor, params.serial, body.reason),
  },
];
