import { ConfigError } from '../config/index.ts';
import { authnFrom, createAuthnPart } from '../authn/index.ts';
import { createDirectoryPart } from '../directory/index.ts';
import { createMailPart } from '../mail/index.ts';
import { createHousekeepingPart } from '../housekeeping/index.ts';
import { makeOidcPart } from '../idp/oidc/index.ts';
import { makeSamlPart } from '../idp/saml/index.ts';
import { createPkiPart } from '../pki/index.ts';
import { createPortalPart } from '../portal/index.ts';
import type { PartFactory } from '../server/index.ts';

/** Every part this build can run, in start order (a part may rely on those before it). */
const PART_FACTORIES: ReadonlyMap<string, PartFactory> = new Map<string, PartFactory>([
  ['pki', createPkiPart],
  ['directory', createDirectoryPart],
  ['mail', createMailPart],
  ['authn', createAuthnPart],
  ['oidc', makeOidcPart({ orders: (_context, started) => authnFrom(started).orders, cardLogins: (_context, started) => authnFrom(started).cardLogins, functionClients: (_context, started) => authnFrom(started) })],
  ['saml', makeSamlPart({ orders: (_context, started) => authnFrom(started).orders, cardLogins: (_context, started) => authnFrom(started).cardLogins })],
  ['portal', createPortalPart],
  ['housekeeping', createHousekeepingPart],
]);

/** The factories for `parts` from the config (empty means all), refusing names this build does not have. */
export function selectParts(names: readonly string[], available: ReadonlyMap<string, PartFactory> = PART_FACTORIES): [string, PartFactory][] {
  const unknown = names.filter((name) => !available.has(name));
  if (unknown.length) {
    throw new ConfigError(`invalid configuration: parts: unknown part ${unknown.map((n) => `'${n}'`).join(', ')} (this build has: ${[...available.keys()].join(', ') || 'none'})`);
  }
  return [...available].filter(([name]) => names.length === 0 || names.includes(name));
}
