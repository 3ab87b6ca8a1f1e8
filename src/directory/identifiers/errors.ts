export type IdentifierKind = 'personnummer' | 'organisation number' | 'HSA-id';

/** An identifier was refused; `rule` names the rule it broke, so reports can group refusals. */
export class IdentifierError extends Error {
  override readonly name = 'IdentifierError';
  readonly kind: IdentifierKind;
  readonly rule: string;

  constructor(kind: IdentifierKind, rule: string, detail: string) {
    super(`${kind} refused (${rule}): ${detail}`);
    this.kind = kind;
    this.rule = rule;
  }
}
