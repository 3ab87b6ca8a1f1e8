import type { Part, PartFactory } from '../server/index.ts';
import { generateRegion } from './generate.ts';
import { demoLines, seedRegion } from './seed.ts';

/**
 * The directory: persons, service identities (HSA-ids), organisations and
 * their units, commissions and function objects, kept in step with the
 * catalogue (LDAP) and the population register. Other parts read it through
 * the functions below; the CLI drives the syncs.
 */

export const createDirectoryPart: PartFactory = async (context): Promise<Part> => ({
  name: 'directory',
  title: { sv: 'Katalog', en: 'Directory' },
  description: {
    sv: 'Personer, tjänste-id, organisationer, enheter och medarbetaruppdrag, synkade från katalogen och folkbokföringen.',
    en: 'Persons, service identities, organisations, units and commissions, synced from the catalogue and the population register.',
  },
  links: [],
  async seedDemo() {
    const { persons, seed } = context.config.directory.demo;
    const region = generateRegion({ persons, seed, regionName: context.config.demo.regionName });
    await seedRegion(context.db, region, context.now);
    return demoLines(region);
  },
});

export type { Commission, CommissionRight, FunctionObject, FunctionObjectKind, Organisation, Person, ServiceIdentity, Unit, Viewer } from './model.ts';
export { PUBLIC_VIEWER } from './model.ts';
export {
  factHistory,
  findByHsaId,
  findCommission,
  findOrganisation,
  findFunctionObject,
  findPerson,
  findPersonByServiceIdentity,
  isCurrentOrganisation,
  unitAncestry,
  unitSubtree,
  protectedAmong,
  serviceIdentityPlaces,
  type ServiceIdentityPlace,
  listMissingPersons,
  listOrganisationPersons,
  listUnitCommissions,
  loginAttributes,
  searchPersons,
  type CommissionHolder,
  type CommissionView,
  type FactPeriod,
  type HsaIdLookup,
  type MissingPerson,
  type OrganisationView,
  type PersonSummary,
  type PersonView,
  type ServiceIdentityView,
} from './reads.ts';
export { parsePersonnummer, isPersonnummer, withPersonnummerCheckDigit, type Personnummer, type PersonnummerKind } from './identifiers/personnummer.ts';
export { parseOrganisationNumber, isOrganisationNumber } from './identifiers/organisation-number.ts';
export { parseHsaId, isHsaId, type HsaId } from './identifiers/hsa-id.ts';
export { IdentifierError } from './identifiers/errors.ts';
export { directoryConfigSchema, type DirectoryConfig } from './config.ts';
export { syncCatalogue, CatalogueUnavailableError, type CatalogueSyncOptions, type CatalogueSyncResult } from './ldap-sync.ts';
export type { CatalogueSyncMode, CatalogueSyncReport } from './catalogue-sync.ts';
export { syncFromRegister, type RegisterRunReport } from './register-sync.ts';
export { httpRegister } from './register-http.ts';
export { readRegisterExtract, extractRegister } from './register-file.ts';
export { RegisterUnavailableError, type PopulationRegister, type RegisterRecord } from './register.ts';
export { generateRegion, type Region, type RegionOptions } from './generate.ts';
export { seedRegion } from './seed.ts';
export { registerDirectoryCommands } from './cli.ts';
export { holderStandings, type HolderStanding } from './holders.ts';
