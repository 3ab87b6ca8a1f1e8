/** Distinguished-name helpers (RFC 4514), just what the sync and the LDIF writer need. */

/** Escapes an attribute value for use in a DN. */
export function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

/** The DN one level up, or null for a single-RDN DN. Escaped commas (`\,` and `\2C`) do not split. */
export function parentDn(dn: string): string | null {
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === '\\') i++;
    else if (dn[i] === ',') return dn.slice(i + 1).trim();
  }
  return null;
}

/** A key for comparing DNs from one server: attribute types and the values we use are case-insensitive. */
export function dnKey(dn: string): string {
  return dn
    .split(/(?<!\\),\s*/)
    .map((rdn) => rdn.trim())
    .join(',')
    .toLowerCase();
}
