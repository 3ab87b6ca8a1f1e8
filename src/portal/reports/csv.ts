/**
 * CSV as RFC 4180 writes it (comma, CRLF, quotes doubled), with one guard:
 * a text cell a spreadsheet would run as a formula (starting with = + - @,
 * or a tab or carriage return) gets a leading apostrophe, so it stays text.
 */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(columns: readonly string[], rows: readonly Readonly<Record<string, string | number | null>>[]): string {
  return [columns.map(csvCell).join(','), ...rows.map((row) => columns.map((c) => csvCell(row[c])).join(','))].map((line) => `${line}\r\n`).join('');
}
