/**
 * Name search keys. PostgreSQL's lower() depends on the database's locale
 * (PGlite and many servers run the C locale, where it leaves Å, Ä, Ö alone),
 * so the key is made here with Swedish rules and stored beside the name.
 */
export function searchKey(...names: readonly (string | null | undefined)[]): string {
  const words = names.flatMap((name) => (name ? normaliseName(name).split(' ') : [])).filter(Boolean);
  return words.length > 0 ? ` ${words.join(' ')}` : '';
}

/** NFC so a decomposed "å" (a + ring) equals the composed one; Swedish lower case; single spaces; hyphens split words. */
export function normaliseName(name: string): string {
  return name.normalize('NFC').toLocaleLowerCase('sv-SE').replace(/[\s\-]+/gu, ' ').trim();
}

/** Words of a search query, each to be matched as the start of a name word. */
export function queryWords(query: string): string[] {
  return normaliseName(query).split(' ').filter(Boolean);
}

/** A word as literal text inside a LIKE pattern. */
export function escapeLike(word: string): string {
  return word.replace(/[%_\\]/g, (c) => `\\${c}`);
}
