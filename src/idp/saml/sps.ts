import type { Database, Queryable } from '../../store/index.ts';
import { CLAIM_NAMES, DEFAULT_ALLOWED_CLAIMS } from '../claims/index.ts';
// From the session, not the OpenID Provider's index: that one reaches the server's part list, and so this module, again.
import { AUTHN_METHODS as LOGIN_METHODS, type AuthnMethod as LoginMethod } from '../session/index.ts';
import { ATTRIBUTE_PROFILES, SAML_ATTRIBUTES, type AttributeProfile } from './attributes.ts';
import { displayNameOf, MAX_AGGREGATE_BYTES, parseSpMetadata, spEntitiesOfAggregate, SpMetadataRefused, type SpDescriptor } from './sp-metadata.ts';

/** A registered SAML service provider (an e-service). */
export interface ServiceProvider {
  readonly entityId: string;
  readonly displayName: string;
  readonly displayNames: Readonly<Record<string, string>>;
  readonly metadataSource: string;
  readonly descriptor: SpDescriptor;
  readonly methods: readonly LoginMethod[];
  /** Claim names (OIDC's short names) it may receive. */
  readonly allowedAttributes: readonly string[];
  readonly attributeProfile: AttributeProfile;
  /** Refuse its unsigned AuthnRequests even when its metadata does not say AuthnRequestsSigned. */
  readonly requireSignedRequests: boolean;
  /** Sign the Assertion too, not only the Response. */
  readonly signAssertions: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewServiceProvider {
  readonly metadataXml: string;
  /** Where the metadata came from (file or URL), for `sp show`. */
  readonly metadataSource: string;
  /** Overrides OrganizationDisplayName; needed when the metadata has none. */
  readonly displayName?: string;
  readonly methods?: readonly string[];
  /** Claim names or SAML attribute names. */
  readonly attributes?: readonly string[];
  readonly attributeProfile?: string;
  readonly requireSignedRequests?: boolean;
  readonly signAssertions?: boolean;
}

export class ServiceProviderError extends Error {
  override readonly name = 'ServiceProviderError';
}

const COLUMNS = `entity_id as "entityId", display_name as "displayName", display_names as "displayNames", metadata_source as "metadataSource",
  descriptor, methods, allowed_attributes as "allowedAttributes", attribute_profile as "attributeProfile",
  require_signed_requests as "requireSignedRequests", sign_assertions as "signAssertions", created_at as "createdAt", updated_at as "updatedAt"`;

/** SAML attribute name (either naming) → claim name. */
const CLAIM_BY_SAML_NAME: ReadonlyMap<string, string> = new Map(Object.entries(SAML_ATTRIBUTES).flatMap(([claim, names]) => [[names.sambi, claim], ...(names.oid ? [[names.oid, claim] as const] : [])]));

/**
 * Registers an SP from its metadata; `replace` lets new metadata (a key
 * rollover, a new endpoint) take the place of the old, keeping nothing of it.
 */
export async function addServiceProvider(db: Queryable, input: NewServiceProvider, now: Date, options: { replace?: boolean } = {}): Promise<ServiceProvider> {
  let descriptor: SpDescriptor;
  try {
    descriptor = parseSpMetadata(input.metadataXml, now);
  } catch (error) {
    if (error instanceof SpMetadataRefused) throw new ServiceProviderError(error.message);
    throw error;
  }
  const displayName = input.displayName?.trim() || displayNameOf(descriptor);
  if (!displayName) throw new ServiceProviderError(`metadata of ${descriptor.entityId} has no OrganizationDisplayName: give the name shown on the login pages with --name`);
  if (displayName.length > 200) throw new ServiceProviderError('the display name must be at most 200 characters');
  const methods = input.methods?.length ? [...new Set(input.methods)] : ['oob-other', 'oob-same'];
  for (const method of methods) if (!(LOGIN_METHODS as readonly string[]).includes(method)) throw new ServiceProviderError(`unknown login method ${method} (known: ${LOGIN_METHODS.join(', ')})`);
  const allowedAttributes = [...new Set((input.attributes?.length ? input.attributes : DEFAULT_ALLOWED_CLAIMS).map(claimOf))];
  const attributeProfile = input.attributeProfile ?? 'sambi';
  if (!(ATTRIBUTE_PROFILES as readonly string[]).includes(attributeProfile)) throw new ServiceProviderError(`unknown attribute naming ${attributeProfile} (known: ${ATTRIBUTE_PROFILES.join(', ')})`);
  const values = [
    descriptor.entityId,
    displayName,
    JSON.stringify(descriptor.displayNames),
    input.metadataXml,
    input.metadataSource,
    JSON.stringify(descriptor),
    methods,
    allowedAttributes,
    attributeProfile,
    input.requireSignedRequests ?? false,
    input.signAssertions ?? true,
    now,
  ];
  const insert = `insert into saml_service_providers (entity_id, display_name, display_names, metadata_xml, metadata_source, descriptor, methods,
       allowed_attributes, attribute_profile, require_signed_requests, sign_assertions, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`;
  const rows = options.replace
    ? await db.query<ServiceProvider>(
        `${insert} on conflict (entity_id) do update set display_name = excluded.display_name, display_names = excluded.display_names, metadata_xml = excluded.metadata_xml,
           metadata_source = excluded.metadata_source, descriptor = excluded.descriptor, methods = excluded.methods, allowed_attributes = excluded.allowed_attributes,
           attribute_profile = excluded.attribute_profile, require_signed_requests = excluded.require_signed_requests, sign_assertions = excluded.sign_assertions,
           updated_at = excluded.updated_at returning ${COLUMNS}`,
        values,
      )
    : await db.query<ServiceProvider>(`${insert} on conflict (entity_id) do nothing returning ${COLUMNS}`, values);
  if (!rows[0]) throw new ServiceProviderError(`${descriptor.entityId} is already registered (add --replace to take new metadata)`);
  return rows[0];
}

/**
 * Registers every SP of a federation aggregate whose signature verifies with
 * the trusted certificate, each with the same settings; an SP that cannot be
 * registered (no display name, bad endpoint, …) is reported and skipped, the
 * others are added or, with `replace`, updated. Nothing is added if the
 * aggregate itself is refused.
 */
export async function addServiceProvidersFromAggregate(
  db: Queryable,
  input: Omit<NewServiceProvider, 'metadataXml' | 'displayName'> & { readonly aggregateXml: string; readonly trustedCertificatePem: string },
  now: Date,
  options: { replace?: boolean } = {},
): Promise<{ added: ServiceProvider[]; skipped: { entityId: string; reason: string }[] }> {
  let entities: string[];
  try {
    entities = spEntitiesOfAggregate(input.aggregateXml, input.trustedCertificatePem, now);
  } catch (error) {
    if (error instanceof SpMetadataRefused) throw new ServiceProviderError(error.message);
    throw error;
  }
  const added: ServiceProvider[] = [];
  const skipped: { entityId: string; reason: string }[] = [];
  for (const metadataXml of entities) {
    try {
      added.push(await addServiceProvider(db, { ...input, metadataXml }, now, options));
    } catch (error) {
      if (!(error instanceof ServiceProviderError)) throw error;
      skipped.push({ entityId: /entityID="([^"]*)"/.exec(metadataXml)?.[1] ?? '?', reason: error.message });
    }
  }
  return { added, skipped };
}

/** What one aggregate refresh did (or, in a dry run, would do), by entityID. */
export interface AggregateRefresh {
  readonly added: string[];
  readonly updated: string[];
  readonly removed: string[];
  readonly skipped: { entityId: string; reason: string }[];
}

/** Carries a dry run's outcome out of the transaction it rolls back. */
class DryRunRollback extends Error {
  readonly result: AggregateRefresh;
  constructor(result: AggregateRefresh) {
    super('dry run');
    this.result = result;
  }
}

/**
 * One refresh of a federation aggregate: its SPs are added or updated, and
 * those registered from it earlier that it no longer lists are removed, all
 * in one transaction. A refused aggregate changes nothing; a dry run says
 * what would change and changes nothing.
 */
export async function refreshAggregate(
  db: Database,
  spec: { readonly source: string; readonly certificateFile: string; readonly methods?: readonly string[]; readonly attributes?: readonly string[]; readonly attributeNames?: string },
  readFile: (path: string) => Promise<string>,
  now: Date,
  options: { readonly dryRun?: boolean } = {},
): Promise<AggregateRefresh> {
  // Fetched before the transaction: a slow federation server holds no connection.
  const aggregateXml = await readMetadataSource(spec.source, readFile, 30_000, MAX_AGGREGATE_BYTES);
  const trustedCertificatePem = await readFile(spec.certificateFile).catch((error: NodeJS.ErrnoException) => {
    throw new ServiceProviderError(`cannot read ${spec.certificateFile}: ${error.code ?? error.message}`);
  });
  try {
    return await db.transaction(async (tx) => {
      const before = new Set((await tx.query<{ entityId: string }>('select entity_id as "entityId" from saml_service_providers where metadata_source = $1', [spec.source])).map((r) => r.entityId));
      const result = await addServiceProvidersFromAggregate(
        tx,
        {
          aggregateXml,
          trustedCertificatePem,
          metadataSource: spec.source,
          ...(spec.methods ? { methods: spec.methods } : {}),
          ...(spec.attributes ? { attributes: spec.attributes } : {}),
          ...(spec.attributeNames ? { attributeProfile: spec.attributeNames } : {}),
        },
        now,
        { replace: true },
      );
      const kept = result.added.map((sp) => sp.entityId);
      const removed = await tx.query<{ entityId: string }>('delete from saml_service_providers where metadata_source = $1 and not (entity_id = any($2)) returning entity_id as "entityId"', [spec.source, kept]);
      const outcome: AggregateRefresh = { added: kept.filter((e) => !before.has(e)), updated: kept.filter((e) => before.has(e)), removed: removed.map((r) => r.entityId), skipped: result.skipped };
      if (options.dryRun) throw new DryRunRollback(outcome);
      return outcome;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.result;
    throw error;
  }
}

/** A claim name from a claim name or either SAML name of it. */
function claimOf(name: string): string {
  if (CLAIM_NAMES.has(name)) return name;
  const claim = CLAIM_BY_SAML_NAME.get(name);
  if (!claim) throw new ServiceProviderError(`unknown attribute ${name} (give claim names such as employeeHsaId, or their SAML names)`);
  return claim;
}

export async function findServiceProvider(db: Queryable, entityId: string): Promise<ServiceProvider | null> {
  const [row] = await db.query<ServiceProvider>(`select ${COLUMNS} from saml_service_providers where entity_id = $1`, [entityId]);
  return row ?? null;
}

/**
 * SP lookups for the hot path (every AuthnRequest and login step), kept a few
 * seconds per node as OIDC keeps its clients: a removed SP or new metadata
 * (a rotated key, a changed ACS) takes effect within `SP_CACHE_MS` everywhere.
 */
export const SP_CACHE_MS = 5_000;
export function serviceProviderCache(db: Queryable, now: () => number): (entityId: string) => Promise<ServiceProvider | null> {
  const cached = new Map<string, { at: number; value: Promise<ServiceProvider | null> }>();
  return (entityId) => {
    const hit = cached.get(entityId);
    if (hit && now() - hit.at < SP_CACHE_MS) return hit.value;
    const value = findServiceProvider(db, entityId);
    // A failed lookup is not remembered.
    value.catch(() => cached.delete(entityId));
    if (cached.size > 10_000) cached.clear();
    cached.set(entityId, { at: now(), value });
    return value;
  };
}

export async function listServiceProviders(db: Queryable): Promise<ServiceProvider[]> {
  return db.query<ServiceProvider>(`select ${COLUMNS} from saml_service_providers order by display_name, entity_id`);
}

export async function removeServiceProvider(db: Queryable, entityId: string): Promise<boolean> {
  return (await db.query('delete from saml_service_providers where entity_id = $1 returning 1', [entityId])).length === 1;
}

/** Largest metadata document fetched from a URL. */
const MAX_FETCH_BYTES = 1 << 20;

/**
 * SP metadata from a file path or an https URL (http only on loopback), read
 * with a size cap and a time limit.
 */
export async function readMetadataSource(source: string, readFile: (path: string) => Promise<string>, timeoutMs = 10_000, maxBytes = MAX_FETCH_BYTES): Promise<string> {
  if (!/^https?:\/\//i.test(source)) {
    try {
      return await readFile(source);
    } catch (error) {
      throw new ServiceProviderError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const url = new URL(source);
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !loopback) throw new ServiceProviderError(`${source}: metadata is fetched only over https (or http on loopback)`);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
  } catch (error) {
    throw new ServiceProviderError(`cannot fetch ${source}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new ServiceProviderError(`cannot fetch ${source}: HTTP ${response.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.length;
    if (size > maxBytes) throw new ServiceProviderError(`${source}: metadata larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
