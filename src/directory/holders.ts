import type { Queryable } from '../store/index.ts';
import { isHsaId } from './identifiers/hsa-id.ts';
import { parsePersonnummer } from './identifiers/personnummer.ts';

/**
 * Where the holder of an eID stands in the directory, read by the
 * identifier in the certificate (an HSA-id or a personnummer): whether the
 * directory knows them, whether their service identity has ended, since
 * when the catalogue or the register lacks them, and an address to write to.
 */
export interface HolderStanding {
  readonly identifier: string;
  readonly kind: 'hsaId' | 'personnummer' | 'unrecognised';
  /** The person (and, for an HSA-id, the service identity) is in the directory at all. */
  readonly known: boolean;
  readonly serviceIdentityEndedAt: Date | null;
  readonly missingFromCatalogueSince: Date | null;
  readonly missingFromRegisterSince: Date | null;
  readonly deceased: boolean;
  /** The service identity's e-mail; for a personnummer, that of one of the person's current service identities. */
  readonly mail: string | null;
}

interface Row {
  key: string;
  ended: Date | null;
  catalogue: Date | null;
  register: Date | null;
  deceased: boolean;
  mail: string | null;
}

/** The standing of each holder, by the identifier as given (personnummer in any accepted spelling). */
export async function holderStandings(db: Queryable, identifiers: readonly string[]): Promise<Map<string, HolderStanding>> {
  const hsaIds = identifiers.filter((i) => isHsaId(i));
  const personnummerOf = new Map<string, string>();
  for (const identifier of identifiers) {
    if (isHsaId(identifier)) continue;
    try {
      personnummerOf.set(identifier, parsePersonnummer(identifier).value);
    } catch {
      // Neither kind: reported as unrecognised below.
    }
  }
  const byHsaId = new Map(
    (
      await db.query<Row>(
        `select si.hsa_id as key, si.valid_to as ended, p.missing_from_catalogue_since as catalogue, p.missing_from_register_since as register, p.deceased, si.mail
           from directory_service_identity si join directory_person p on p.id = si.person_id where si.hsa_id = any($1)`,
        [hsaIds],
      )
    ).map((row) => [row.key, row]),
  );
  const byPersonnummer = new Map(
    (
      await db.query<Row>(
        `select p.personnummer as key, null::timestamptz as ended, p.missing_from_catalogue_since as catalogue, p.missing_from_register_since as register, p.deceased,
                (select si.mail from directory_service_identity si where si.person_id = p.id and si.valid_to is null and si.mail is not null order by si.hsa_id limit 1) as mail
           from directory_person p where p.personnummer = any($1)`,
        [[...new Set(personnummerOf.values())]],
      )
    ).map((row) => [row.key, row]),
  );
  const standings = new Map<string, HolderStanding>();
  for (const identifier of identifiers) {
    const kind = isHsaId(identifier) ? 'hsaId' : personnummerOf.has(identifier) ? 'personnummer' : 'unrecognised';
    const row = kind === 'hsaId' ? byHsaId.get(identifier) : kind === 'personnummer' ? byPersonnummer.get(personnummerOf.get(identifier)!) : undefined;
    standings.set(identifier, {
      identifier,
      kind,
      known: row !== undefined,
      serviceIdentityEndedAt: row?.ended ?? null,
      missingFromCatalogueSince: row?.catalogue ?? null,
      missingFromRegisterSince: row?.register ?? null,
      deceased: row?.deceased ?? false,
      mail: row?.mail ?? null,
    });
  }
  return standings;
}
