import { readFile } from 'node:fs/promises';
import { Client } from 'ldapts';
import type { Database } from '../store/index.ts';
import { applyCatalogueBatch, presentIn, type ApplyDurations, type CatalogueSyncMode, type CatalogueSyncReport } from './catalogue-sync.ts';
import type { LdapConfig } from './config.ts';
import { dnKey } from './ldap/dn.ts';
import {
  emptyTree,
  readCommission,
  readEmployee,
  readFunctionObject,
  readOrganisation,
  readOrRefuse,
  readUnit,
  refusalKey,
  values,
  type CatalogueTree,
  type LdapEntry,
} from './ldap/mapping.ts';
import { lastWatermark, WHOLE_DIRECTORY, type StateScope } from './store-sql.ts';
import type { CatalogueBatch, Refusal, SyncPlan } from './sync-plan.ts';
import type { Commission, FunctionObject, Organisation, Unit } from './model.ts';
import type { CatalogueEmployee } from './sync-plan.ts';

/** The catalogue could not be read to the end; nothing was written. */
export class CatalogueUnavailableError extends Error {
  override readonly name = 'CatalogueUnavailableError';
}

export interface CatalogueSyncOptions {
  /** full: everything, and what vanished ends; incremental: changes since the last run; reconcile: only what vanished. */
  readonly mode: CatalogueSyncMode;
  readonly dryRun?: boolean;
  readonly now: () => Date;
}

export interface CatalogueSyncResult {
  readonly report: CatalogueSyncReport & { readonly fetched: FetchCounts };
  readonly plan: SyncPlan;
  /** Milliseconds spent reading the catalogue, and applying (see ApplyDurations). */
  readonly durations: ApplyDurations & { readonly ldapMs: number };
}

export interface FetchCounts {
  organisations: number;
  units: number;
  employees: number;
  commissions: number;
  functionObjects: number;
}

/**
 * One sync run from the LDAP catalogue. Everything is read first (paged);
 * only then is the plan applied, in one transaction. A connection lost
 * while reading therefore leaves the directory exactly as it was, and the
 * next run simply starts over. An incremental run with no earlier run to
 * start from runs as a full sync.
 */
export async function syncCatalogue(db: Database, config: LdapConfig, options: CatalogueSyncOptions): Promise<CatalogueSyncResult> {
  if (!config.url) throw new CatalogueUnavailableError('no catalogue is configured: set directory.ldap.url (TILLIT_DIRECTORY__LDAP__URL or the config file)');
  const since = options.mode === 'incremental' ? await lastWatermark(db) : null;
  const mode: CatalogueSyncMode = options.mode === 'incremental' && since === null ? 'full' : options.mode;
  const started = performance.now();
  const reader = await CatalogueReader.open(config);
  let read: Awaited<ReturnType<CatalogueReader['read']>>;
  try {
    read = await reader.read(mode, since, options.now());
  } finally {
    await reader.close();
  }
  const ldapMs = performance.now() - started;
  const { batch, refused, presentExtra, watermark, fetched } = read;
  const complete = mode !== 'incremental';
  const { report, plan, durations } = await applyCatalogueBatch(db, batch, complete ? presentIn(batch, presentExtra) : undefined, complete ? WHOLE_DIRECTORY : scopeOf(batch), {
    mode,
    now: options.now,
    dryRun: options.dryRun ?? false,
    watermark: watermark ?? since,
    refused,
  });
  return { report: { ...report, fetched }, plan, durations: { ldapMs, ...durations } };
}

/** The rows an incremental plan compares against: those its entries touch. */
function scopeOf(batch: CatalogueBatch): StateScope {
  return {
    personnummer: [...new Set(batch.employees.map((e) => e.personnummer))],
    serviceIdentityHsaIds: [...new Set([...batch.employees.map((e) => e.hsaId), ...batch.commissions.map((c) => c.serviceIdentityHsaId)])],
    commissionHsaIds: batch.commissions.map((c) => c.hsaId),
  };
}

class CatalogueReader {
  readonly #client: Client;
  readonly #config: LdapConfig;

  private constructor(client: Client, config: LdapConfig) {
    this.#client = client;
    this.#config = config;
  }

  static async open(config: LdapConfig): Promise<CatalogueReader> {
    const ca = config.caFile ? await readFile(config.caFile) : undefined;
    const tlsOptions = ca ? { ca } : {};
    // Constructor TLS options are for ldaps:// only; given for ldap:// they break a later StartTLS in ldapts.
    const secure = config.url!.startsWith('ldaps://');
    const client = new Client({ url: config.url!, timeout: config.timeoutMs, connectTimeout: config.connectTimeoutMs, ...(secure ? { tlsOptions } : {}) });
    try {
      // StartTLS upgrades an open socket, so the name to check the certificate against must be given (ldapts would check "localhost").
      if (config.startTls) await client.startTLS({ ...tlsOptions, host: new URL(config.url!).hostname });
      if (config.bindDn) await client.bind(config.bindDn, config.bindPassword ?? '');
    } catch (error) {
      await client.unbind().catch(() => {});
      throw unavailable(config, 'could not connect and bind', error);
    }
    return new CatalogueReader(client, config);
  }

  async close(): Promise<void> {
    await this.#client.unbind().catch(() => {});
  }

  async read(mode: CatalogueSyncMode, since: string | null, today: Date) {
    const map = this.#config.attributes;
    const filters = this.#config.filters;
    const refused: Refusal[] = [];
    const fetched: FetchCounts = { organisations: 0, units: 0, employees: 0, commissions: 0, functionObjects: 0 };
    const presentExtra = { serviceIdentities: [] as string[], commissions: [] as string[], units: [] as string[], organisations: [] as string[], functionObjects: [] as string[] };
    let watermark: string | null = null;
    // GeneralizedTime strings of one server sort as the times do.
    const note = (entry: LdapEntry) => {
      for (const stamp of values(entry, map.modifyTimestamp)) if (watermark === null || stamp > watermark) watermark = stamp;
    };
    // The tree is read whole every run: it is small, and entries below it need it to know their place.
    const organisations: Organisation[] = [];
    const tree: CatalogueTree = emptyTree();
    await this.#each(filters.organisation, undefined, (entry) => {
      fetched.organisations++;
      note(entry);
      const organisation = readOrRefuse('organisation', entry, map, () => readOrganisation(entry, map), refused);
      if (organisation) {
        organisations.push(organisation);
        tree.organisations.set(dnKey(entry.dn), organisation.hsaId);
      } else {
        presentExtra.organisations.push(refusalKey(entry, map));
        tree.refused.add(dnKey(entry.dn));
      }
    });
    const units: Unit[] = [];
    // Parents first, so each unit finds its parent in the tree: units are read whole, then sorted.
    const unitEntries: LdapEntry[] = [];
    await this.#each(filters.unit, undefined, (entry) => void unitEntries.push(entry));
    unitEntries.sort((a, b) => depth(a.dn) - depth(b.dn));
    for (const entry of unitEntries) {
      fetched.units++;
      note(entry);
      const unit = readOrRefuse('unit', entry, map, () => readUnit(entry, map, tree), refused);
      if (unit) {
        units.push(unit);
        tree.units.set(dnKey(entry.dn), { hsaId: unit.hsaId, organisationHsaId: unit.organisationHsaId });
      } else {
        presentExtra.units.push(refusalKey(entry, map));
        tree.refused.add(dnKey(entry.dn));
      }
    }
    const functionObjects: FunctionObject[] = [];
    await this.#each(filters.functionObject, undefined, (entry) => {
      fetched.functionObjects++;
      note(entry);
      const fo = readOrRefuse('function_object', entry, map, () => readFunctionObject(entry, map, tree), refused);
      if (fo) functionObjects.push(fo);
      else presentExtra.functionObjects.push(refusalKey(entry, map));
    });
    const employees: CatalogueEmployee[] = [];
    const commissions: Commission[] = [];
    const changed = (filter: string) => (mode === 'incremental' && since !== null ? `(&${filter}(${map.modifyTimestamp}>=${since}))` : filter);
    if (mode === 'reconcile') {
      // Only the keys: what is present, so what vanished can end.
      await this.#each(filters.employee, [map.hsaId], (entry) => {
        fetched.employees++;
        presentExtra.serviceIdentities.push(refusalKey(entry, map));
      });
      await this.#each(filters.commission, [map.hsaId], (entry) => {
        fetched.commissions++;
        presentExtra.commissions.push(refusalKey(entry, map));
      });
      return { batch: { organisations, units, employees, commissions, functionObjects }, refused, presentExtra, watermark: null, fetched };
    }
    await this.#each(changed(filters.employee), undefined, (entry) => {
      fetched.employees++;
      note(entry);
      const employee = readOrRefuse('service_identity', entry, map, () => readEmployee(entry, map, tree, today), refused);
      if (employee) employees.push(employee);
      // A refused entry is still present: its earlier, valid version stays rather than ending.
      else presentExtra.serviceIdentities.push(refusalKey(entry, map));
    });
    await this.#each(changed(filters.commission), undefined, (entry) => {
      fetched.commissions++;
      note(entry);
      const commission = readOrRefuse('commission', entry, map, () => readCommission(entry, map), refused);
      if (commission) commissions.push(commission);
      else presentExtra.commissions.push(refusalKey(entry, map));
    });
    return { batch: { organisations, units, employees, commissions, functionObjects }, refused, presentExtra, watermark: watermark as string | null, fetched };
  }

  /**
   * Hands every entry matching the filter to `use`, page by page (RFC 2696):
   * no server size limit cuts the result, and only one page of raw entries is held at a time.
   */
  async #each(filter: string, attributes: string[] | undefined, use: (entry: LdapEntry) => void): Promise<void> {
    // Only the mapped attributes: every other one would be sent, decoded and thrown away.
    const wanted = attributes ?? [...new Set(Object.values(this.#config.attributes))];
    try {
      for await (const page of this.#client.searchPaginated(this.#config.baseDn, { scope: 'sub', filter, attributes: wanted, paged: { pageSize: this.#config.pageSize } })) {
        for (const entry of page.searchEntries as unknown as LdapEntry[]) use(entry);
      }
    } catch (error) {
      throw unavailable(this.#config, `search ${filter} failed`, error);
    }
  }
}

function depth(dn: string): number {
  return dn.split(/(?<!\\),/).length;
}

function unavailable(config: LdapConfig, what: string, cause: unknown): CatalogueUnavailableError {
  // The bind password is never part of an ldapts message, and the URL holds no credentials.
  return new CatalogueUnavailableError(`catalogue at ${config.url}: ${what}: ${(cause as Error).message}; nothing was changed`, { cause });
}
