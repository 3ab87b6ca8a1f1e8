/** What the population register (PU) says about one person. */
export interface RegisterRecord {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly protectedIdentity: boolean;
  readonly deceased: boolean;
  /** A newer personnummer replacing this one (e.g. a samordningsnummer that became a personnummer). */
  readonly newPersonnummer: string | null;
}

/** A source of register facts: an extract file or the register's HTTP service. */
export interface PopulationRegister {
  /** The records the register has for these personnummer; absent keys are persons the register does not know. */
  lookup(personnummer: readonly string[]): Promise<Map<string, RegisterRecord>>;
}

/** The register could not be asked (unreachable, timed out, answered nonsense); nothing was changed. */
export class RegisterUnavailableError extends Error {
  override readonly name = 'RegisterUnavailableError';
}
