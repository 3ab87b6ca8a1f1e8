import { withOrganisationCheckDigit } from './identifiers/organisation-number.ts';
import { withPersonnummerCheckDigit } from './identifiers/personnummer.ts';
import type { Commission, CommissionRight, FunctionObject, Organisation, Unit } from './model.ts';
import { seededRandom, type Random } from './random.ts';
import type { RegisterRecord } from './register.ts';
import type { CatalogueEmployee } from './sync-plan.ts';

/**
 * A deterministic synthetic region: the same options give the same region on
 * every machine. Identifiers pass every rule in identifiers/; names are
 * Swedish (with å, ä and ö) so search and encoding are exercised.
 */

export interface RegionOptions {
  readonly persons: number;
  readonly seed: string;
  /** Name of the first care provider; more are added for large regions. */
  readonly regionName?: string;
}

export interface Region {
  readonly organisations: Organisation[];
  readonly units: Unit[];
  readonly employees: CatalogueEmployee[];
  readonly commissions: Commission[];
  readonly functionObjects: FunctionObject[];
  readonly register: RegisterRecord[];
}

const GIVEN_NAMES = ['Anna', 'Åsa', 'Märta', 'Eva', 'Karin', 'Sofia', 'Maria', 'Ingrid', 'Linnéa', 'Elin', 'Björn', 'Örjan', 'Gösta', 'Lars', 'Per', 'Erik', 'Johan', 'Mikael', 'Sören', 'Anders', 'Östen', 'Hampus', 'Ella', 'Saga', 'Måns', 'Jöns', 'Agnes', 'Tove', 'Nils', 'Stina'];
const SURNAMES = ['Andersson', 'Johansson', 'Karlsson', 'Nilsson', 'Eriksson', 'Larsson', 'Olsson', 'Persson', 'Svensson', 'Gustafsson', 'Åberg', 'Öberg', 'Ängström', 'Lindqvist', 'Björk', 'Sjöström', 'Nordström', 'Bäckström', 'Håkansson', 'Löfgren', 'Ek', 'Hedlund', 'Strömberg', 'Dahl', 'Wallin'];
const UNIT_KINDS = ['Vårdcentral', 'Akutmottagning', 'Barnmedicin', 'Ortopedi', 'Psykiatri', 'Röntgen', 'Kirurgi', 'Geriatrik', 'Infektion', 'Hud'];
const PLACES = ['Centrum', 'Söder', 'Norr', 'Öster', 'Väster', 'Åkersberga', 'Hälla', 'Tärnby', 'Mölnlycke', 'Gärdet', 'Ödeby', 'Sjöholm'];
const PROFESSIONS = [
  { licence: 'Läkare', title: '201010', prescription: true },
  { licence: 'Sjuksköterska', title: '204010', prescription: false },
  { licence: 'Barnmorska', title: '204020', prescription: true },
  { licence: 'Fysioterapeut', title: '205010', prescription: false },
  { licence: 'Psykolog', title: '206010', prescription: false },
];
const SPECIALITIES = ['Allmänmedicin', 'Barn- och ungdomsmedicin', 'Kirurgi', 'Psykiatri', 'Radiologi'];
const PURPOSES = ['Vård och behandling', 'Administration', 'Kvalitetssäkring'];
const RIGHTS: CommissionRight[] = [
  { activity: 'Läsa', informationType: 'Alla', scope: 'Vårdgivare' },
  { activity: 'Skriva', informationType: 'Alla', scope: 'Vårdenhet' },
  { activity: 'Signera', informationType: 'Journalanteckning', scope: 'Vårdenhet' },
];

const PERSONS_PER_CARE_PROVIDER = 20_000;
const PERSONS_PER_UNIT = 150;

export function generateRegion(options: RegionOptions): Region {
  if (!Number.isInteger(options.persons) || options.persons < 1) throw new RangeError(`persons must be a whole number of at least 1, got ${options.persons}`);
  const random = seededRandom(options.seed);
  const region: Region = { organisations: [], units: [], employees: [], commissions: [], functionObjects: [], register: [] };
  // At least two, so some persons hold service identities at two employers.
  const providerCount = Math.max(2, Math.ceil(options.persons / PERSONS_PER_CARE_PROVIDER));
  const unitsPerProvider = Math.max(3, Math.ceil(options.persons / providerCount / PERSONS_PER_UNIT));
  for (let i = 0; i < providerCount; i++) addCareProvider(region, random, i, unitsPerProvider, options.regionName ?? 'Region Demo');
  const taken = new Set<string>();
  for (let i = 0; i < options.persons; i++) addPerson(region, random, taken, i);
  return region;
}

/** The first care provider is the region itself; the others are private companies (aktiebolag, whose numbers start 55). */
function addCareProvider(region: Region, random: Random, index: number, unitCount: number, regionName: string): void {
  const organisationNumber = withOrganisationCheckDigit(index === 0 ? '232100000' : `5566${String(index).padStart(5, '0')}`);
  const name = index === 0 ? regionName : `Vårdbolaget Syntet ${index} AB`;
  const hsaId = `SE${organisationNumber}-0001`;
  region.organisations.push({ hsaId, organisationNumber, name, careProvider: true });
  const topLevel: Unit[] = [];
  for (let u = 0; u < unitCount; u++) {
    const parent = topLevel.length > 0 && random.chance(0.4) ? random.pick(topLevel) : null;
    const unit: Unit = {
      hsaId: `SE${organisationNumber}-E${u}`,
      organisationHsaId: hsaId,
      parentUnitHsaId: parent?.hsaId ?? null,
      // The index keeps sibling names (and so LDAP DNs) unique.
      name: `${random.pick(UNIT_KINDS)} ${random.pick(PLACES)} ${u + 1}`,
      // The first unit is always a care unit, so every care provider has one to hang commissions on.
      careUnit: u === 0 || parent !== null || random.chance(0.7),
    };
    if (parent === null) topLevel.push(unit);
    region.units.push(unit);
    if (random.chance(0.3)) {
      region.functionObjects.push({
        hsaId: `SE${organisationNumber}-F${u}`,
        organisationHsaId: hsaId,
        unitHsaId: unit.hsaId,
        name: `Journalserver ${unit.name}`,
        kind: 'server',
        dnsNames: [`journal-${u}.p${index}.region.example`],
        mail: null,
      });
    }
  }
}

function addPerson(region: Region, random: Random, taken: Set<string>, index: number): void {
  const personnummer = uniquePersonnummer(random, taken);
  const givenName = random.pick(GIVEN_NAMES);
  const surname = random.chance(0.1) ? `${random.pick(SURNAMES)}-${random.pick(SURNAMES)}` : random.pick(SURNAMES);
  const profession = random.pick(PROFESSIONS);
  const person = {
    givenName,
    surname,
    displayName: `${givenName} ${surname}`,
    licences: [profession.licence],
    licenceSpecialities: profession.licence === 'Läkare' && random.chance(0.6) ? [random.pick(SPECIALITIES)] : [],
    groupPrescriptionCodes: [],
    personalPrescriptionCode: profession.prescription ? String(1_000_000 + index).slice(-7) : null,
  };
  const organisationIndexes = new Set([random.int(0, region.organisations.length - 1)]);
  if (random.chance(0.12)) organisationIndexes.add(random.int(0, region.organisations.length - 1));
  let n = 0;
  for (const orgIndex of organisationIndexes) {
    const organisation = region.organisations[orgIndex]!;
    const careUnits = region.units.filter((u) => u.organisationHsaId === organisation.hsaId && u.careUnit);
    const unit = random.pick(careUnits);
    // Decimal numbers between letters keep every suffix unique.
    const hsaId = `SE${organisation.organisationNumber}-P${index}${n === 0 ? '' : `S${n}`}`;
    region.employees.push({
      hsaId,
      personnummer,
      organisationHsaId: organisation.hsaId,
      unitHsaId: unit.hsaId,
      titleCode: profession.title,
      mail: `${asciiName(givenName)}.${asciiName(surname)}${index}@p${orgIndex}.region.example`,
      telephone: random.chance(0.5) ? `+46 8 ${random.int(100_000, 999_999)}` : null,
      mobile: random.chance(0.5) ? `+46 70 ${random.int(100_000, 999_999)}` : null,
      person,
    });
    const commissions = random.int(2, 4);
    for (let c = 0; c < commissions; c++) {
      const careUnit = c === 0 ? unit : random.pick(careUnits);
      region.commissions.push({
        hsaId: `${hsaId}C${c}`,
        serviceIdentityHsaId: hsaId,
        name: `${profession.licence}, ${careUnit.name}`,
        purpose: c === 0 ? PURPOSES[0]! : random.pick(PURPOSES),
        rights: c === 0 ? RIGHTS : [random.pick(RIGHTS)],
        careProviderHsaId: organisation.hsaId,
        careUnitHsaId: careUnit.hsaId,
      });
    }
    n++;
  }
  region.register.push({ personnummer, givenName, surname, protectedIdentity: random.chance(0.02), deceased: random.chance(0.005), newPersonnummer: null });
}

function uniquePersonnummer(random: Random, taken: Set<string>): string {
  for (;;) {
    const year = random.int(1950, 2004);
    const month = random.int(1, 12);
    const day = random.int(1, new Date(Date.UTC(year, month, 0)).getUTCDate());
    const coordination = random.chance(0.03);
    const serial = random.int(1, 999);
    const first11 = `${year}${pad(month)}${pad(coordination ? day + 60 : day)}${String(serial).padStart(3, '0')}`;
    const personnummer = withPersonnummerCheckDigit(first11);
    if (!taken.has(personnummer)) {
      taken.add(personnummer);
      return personnummer;
    }
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

function asciiName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[åä]/g, 'a')
    .replace(/ö/g, 'o')
    .replace(/é/g, 'e')
    .replace(/[^a-z]/g, '');
}
