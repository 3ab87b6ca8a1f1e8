import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parsePersonnummer } from './identifiers/personnummer.ts';
import type { PopulationRegister, RegisterRecord } from './register.ts';

/**
 * A population-register extract: JSON lines (one object per line) or CSV
 * with a header line. Bad lines are refused with their line number; the rest
 * of the file is used.
 */

export interface RegisterExtract {
  readonly records: Map<string, RegisterRecord>;
  readonly refused: { readonly line: number; readonly reason: string }[];
}

export const CSV_COLUMNS = ['personnummer', 'givenName', 'surname', 'protectedIdentity', 'deceased', 'newPersonnummer'] as const;

const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1')]);
const optionalPersonnummer = z.union([z.null(), z.literal('').transform(() => null), z.string()]).default(null);
const recordSchema = z.strictObject({
  personnummer: z.string(),
  givenName: z.string().min(1),
  surname: z.string().min(1),
  protectedIdentity: flag.default(false),
  deceased: flag.default(false),
  newPersonnummer: optionalPersonnummer,
});

export function parseRegisterExtract(text: string, format: 'jsonl' | 'csv', today: Date): RegisterExtract {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const records = new Map<string, RegisterRecord>();
  const refused: RegisterExtract['refused'] = [];
  let header: string[] | null = null;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      let raw: unknown;
      if (format === 'jsonl') raw = JSON.parse(line);
      else if (header === null) {
        header = parseCsvLine(line);
        const missing = CSV_COLUMNS.slice(0, 3).filter((c) => !header!.includes(c));
        if (missing.length > 0) throw new Error(`the header lacks ${missing.join(', ')}`);
        return;
      } else {
        const cells = parseCsvLine(line);
        if (cells.length !== header.length) throw new Error(`${cells.length} fields, the header has ${header.length}`);
        raw = Object.fromEntries(header.map((name, c) => [name, cells[c]]));
      }
      const record = toRecord(raw, today);
      if (records.has(record.personnummer)) throw new Error(`personnummer ${record.personnummer} appeared earlier in the file`);
      records.set(record.personnummer, record);
    } catch (error) {
      refused.push({ line: i + 1, reason: error instanceof z.ZodError ? z.prettifyError(error).replace(/\n/g, '; ') : (error as Error).message });
    }
  });
  return { records, refused };
}

function toRecord(raw: unknown, today: Date): RegisterRecord {
  const parsed = recordSchema.parse(raw);
  const personnummer = parsePersonnummer(parsed.personnummer, today).value;
  const newPersonnummer = parsed.newPersonnummer === null ? null : parsePersonnummer(parsed.newPersonnummer, today).value;
  return { ...parsed, personnummer, newPersonnummer };
}

/** RFC 4180 fields: quoted fields may hold commas and doubled quotes. */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  if (quoted) throw new Error('a quoted field is not closed');
  cells.push(cell);
  return cells;
}

export function registerFormatOf(path: string): 'jsonl' | 'csv' {
  return path.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl';
}

export async function readRegisterExtract(path: string, today: Date): Promise<RegisterExtract> {
  return parseRegisterExtract(await readFile(path, 'utf8'), registerFormatOf(path), today);
}

/** An extract as a register: it knows exactly the persons in the file. */
export function extractRegister(extract: RegisterExtract): PopulationRegister {
  return {
    async lookup(personnummer) {
      const found = new Map<string, RegisterRecord>();
      for (const key of personnummer) {
        const record = extract.records.get(key);
        if (record) found.set(key, record);
      }
      return found;
    },
  };
}

/** Writes records as JSON lines (what `directory generate` ships). */
export function toRegisterJsonLines(records: readonly RegisterRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}
