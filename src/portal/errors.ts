/** Why the portal refused a request; the message says what was wrong and what to do, and maps to an HTTP status. */
export type RefusalKind = 'forbidden' | 'not-found' | 'invalid' | 'conflict';

export class PortalRefused extends Error {
  override readonly name = 'PortalRefused';
  readonly kind: RefusalKind;
  constructor(kind: RefusalKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export const HTTP_STATUS: Readonly<Record<RefusalKind, number>> = { forbidden: 403, 'not-found': 404, invalid: 400, conflict: 409 };
