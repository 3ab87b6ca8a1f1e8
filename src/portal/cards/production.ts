import { createHash, sign as signData, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { findPerson, isCurrentOrganisation } from '../../directory/index.ts';
import { IssuanceRefused, readCsr, type ProfileName, type SubjectRequest } from '../../pki/index.ts';
import { appendAudit } from '../audit.ts';
import { authorize, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import type { CardContext } from './context.ts';
import type { CardKind, Loa } from './eligibility.ts';
import { CARD_COLUMNS, cardFromRow, cardSnapshot, type Card } from './store.ts';
import { cardAdminKey } from './unlock.ts';

/**
 * Production: ready orders go to the card manufacturer as a signed batch
 * (JSON lines, photos beside them); the manufacturer's return file names each
 * card's number and a CSR for every key made on the card. The portal then
 * issues the certificates, on hold until hand-out, and purges the photos.
 *
 * Batch file (`batch-<id>.jsonl`), UTF-8, one JSON object a line:
 *   {"format":"tillit-card-batch/1","batch":7,"organisation":"SE…","exportedAt":"…","cards":2}
 *   {"order":12,"kind":"ordinary","loa":3,"holder":{"hsaId":"…","givenName":"…","surname":"…"},"organisation":"…","slots":["auth-hsa",…],"photo":{"file":"photos/12.jpg","type":"image/jpeg","sha256":"…"},"adminKey":"<base64>"}
 * `adminKey`: the card's 32-byte admin key, to be written onto the chip; the
 * portal answers the card's unlock challenge with it (cards/unlock.ts), so the
 * batch goes to the manufacturer over a protected channel only.
 * Signature: ECDSA/RSA with SHA-256 over the file's bytes (DER, base64), by the
 * portal's batch-signing certificate from the function CA
 * (`openssl dgst -sha256 -verify key.pem -signature batch.sig batch.jsonl`).
 *
 * Return file:
 *   {"format":"tillit-card-return/1","batch":7}
 *   {"order":12,"cardNumber":"9752269000012345","csrs":{"auth-hsa":"-----BEGIN CERTIFICATE REQUEST-----…",…}}
 */

export interface BatchSigner {
  readonly certificatePem: string;
  sign(data: Uint8Array): Uint8Array;
}

/** A signer over a private key (PEM, PKCS#8) and its certificate. */
export function batchSigner(privateKeyPem: string, certificatePem: string): BatchSigner {
  return { certificatePem, sign: (data) => signData('sha256', data, privateKeyPem) };
}

/** Keys on each kind of card: an authentication and a signature key per identifier; one on a test card. */
export const CARD_SLOTS: Readonly<Record<CardKind, readonly string[]>> = {
  ordinary: ['auth-hsa', 'sign-hsa', 'auth-pnr', 'sign-pnr'],
  reserve: ['auth-hsa', 'sign-hsa', 'auth-pnr', 'sign-pnr'],
  test: ['test'],
};

export function profileFor(slot: string, loa: Loa | null): ProfileName {
  if (slot === 'test') return 'test';
  const [use, identifier] = slot.split('-') as ['auth' | 'sign', 'hsa' | 'pnr'];
  return `person-${use}-${identifier}-loa${loa ?? 2}` as ProfileName;
}

export interface ExportedBatch {
  readonly batchId: number;
  readonly fileName: string;
  readonly jsonl: string;
  /** Base64 DER signature over the JSON lines. */
  readonly signature: string;
  readonly signerCertificatePem: string;
  readonly photos: readonly { readonly file: string; readonly type: string; readonly bytes: Uint8Array }[];
  readonly cards: readonly Card[];
}

/** Exports every ready order of the organisation as one signed batch; the orders move to "in production". */
export async function exportBatch(context: CardContext, by: Principal, organisation: string, signer: BatchSigner): Promise<ExportedBatch> {
  const now = context.now();
  if (!(await isCurrentOrganisation(context.db, organisation))) throw new PortalRefused('not-found', `no current organisation with HSA-id ${organisation}`);
  const recorded = authorize(by, 'production.export', { organisation, units: [] });
  return context.db.transaction(async (tx) => {
    const rows = await tx.query<Parameters<typeof cardFromRow>[0] & { photo: Uint8Array | null; photo_type: string | null }>(
      `select ${CARD_COLUMNS}, photo, photo_type from portal_card where organisation_hsa_id = $1 and status = 'ordered' order by id for update`,
      [organisation],
    );
    if (rows.length === 0) throw new PortalRefused('conflict', `no orders of ${organisation} are ready for production`);
    const [batch] = await tx.query<{ id: number }>(
      `insert into portal_production_batch (organisation_hsa_id, exported_by, exported_at, export_sha256, signature, signer_certificate) values ($1, $2, $3, '', '', '') returning id`,
      [organisation, recorded.actor, now],
    );
    const batchId = batch!.id;
    const photos: { file: string; type: string; bytes: Uint8Array }[] = [];
    const lines = [JSON.stringify({ format: 'tillit-card-batch/1', batch: batchId, organisation, exportedAt: now.toISOString(), cards: rows.length })];
    for (const row of rows) {
      const card = cardFromRow(row);
      const person = await findPerson(tx, card.personnummer, { mayViewProtectedIdentities: true });
      let photo = null;
      if (row.photo && row.photo_type) {
        const file = `photos/${card.id}.${row.photo_type === 'image/png' ? 'png' : 'jpg'}`;
        photos.push({ file, type: row.photo_type, bytes: row.photo });
        photo = { file, type: row.photo_type, sha256: createHash('sha256').update(row.photo).digest('hex') };
      }
      lines.push(
        JSON.stringify({
          order: card.id,
          kind: card.kind,
          loa: card.loa,
          holder: { hsaId: card.holder, givenName: person?.givenName ?? '', surname: person?.surname ?? '' },
          organisation: card.organisation,
          office: card.office,
          slots: CARD_SLOTS[card.kind],
          photo,
          adminKey: (await cardAdminKey(tx, now, card.id)).toString('base64'),
        }),
      );
    }
    const jsonl = `${lines.join('\n')}\n`;
    const bytes = new TextEncoder().encode(jsonl);
    const signature = Buffer.from(signer.sign(bytes)).toString('base64');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await tx.query('update portal_production_batch set export_sha256 = $2, signature = $3, signer_certificate = $4 where id = $1', [batchId, sha256, signature, signer.certificatePem]);
    const moved = await tx.query<Parameters<typeof cardFromRow>[0]>(
      `update portal_card set status = 'in-production', batch_id = $2, updated_at = $3 where id = any($1::bigint[]) and status = 'ordered' returning ${CARD_COLUMNS}`,
      [rows.map((r) => r.id), batchId, now],
    );
    await appendAudit(tx, { ...recorded, action: 'production.export', target: `batch:${batchId}`, before: null, after: { batch: batchId, sha256, orders: rows.map((r) => r.id) } }, now);
    return { batchId, fileName: `batch-${batchId}.jsonl`, jsonl, signature, signerCertificatePem: signer.certificatePem, photos, cards: moved.map(cardFromRow) };
  });
}

const returnHeader = z.strictObject({ format: z.literal('tillit-card-return/1'), batch: z.number().int().positive() });
const returnLine = z.strictObject({
  order: z.number().int().positive(),
  cardNumber: z.string().regex(/^[0-9A-Z]{8,24}$/, 'a card number is 8–24 digits or capital letters'),
  csrs: z.record(z.string(), z.string().max(64 * 1024)),
});

export const MAX_RETURN_FILE_BYTES = 20 * 1024 * 1024;

function parseReturnFile(text: string): { batch: number; lines: z.infer<typeof returnLine>[] } {
  if (text.length > MAX_RETURN_FILE_BYTES) throw new PortalRefused('invalid', `the return file is larger than ${MAX_RETURN_FILE_BYTES} bytes`);
  const raw = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const parsed = raw.map((line, i) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new PortalRefused('invalid', `return file line ${i + 1} is not JSON`);
    }
  });
  const header = returnHeader.safeParse(parsed[0]);
  if (!header.success) throw new PortalRefused('invalid', 'the return file must start with {"format":"tillit-card-return/1","batch":<id>}');
  const lines = parsed.slice(1).map((value, i) => {
    const line = returnLine.safeParse(value);
    if (!line.success) throw new PortalRefused('invalid', `return file line ${i + 2}: ${line.error.issues.map((issue) => `${issue.path.join('.') || 'line'}: ${issue.message}`).join('; ')}`);
    return line.data;
  });
  return { batch: header.data.batch, lines };
}

interface PlannedCertificate {
  readonly cardId: number;
  readonly slot: string;
  readonly profile: ProfileName;
  readonly csr: string;
  readonly subject: SubjectRequest;
}

export interface ImportResult {
  readonly batchId: number;
  readonly produced: readonly Card[];
  /** Orders withdrawn while in production: their lines were ignored and nothing issued. */
  readonly skipped: readonly number[];
}

/**
 * Reads the manufacturer's return file. Everything is checked before anything
 * is issued (a reused file, a card missing or foreign to the batch, a card
 * number used before, a missing or extra key, a CSR that does not verify or
 * names someone else, one key on two slots); if the final write fails, the
 * certificates just issued are revoked, so nothing is left half-done.
 */
export async function importReturn(context: CardContext, by: Principal, text: string): Promise<ImportResult> {
  const now = context.now();
  const sha256 = createHash('sha256').update(text).digest('hex');
  const [reused] = await context.db.query<{ id: number; returned_at: Date }>('select id, returned_at from portal_production_batch where return_sha256 = $1', [sha256]);
  if (reused) throw new PortalRefused('conflict', `this return file was already read for batch ${reused.id} at ${reused.returned_at.toISOString()}; nothing was issued again`);
  const file = parseReturnFile(text);
  const [batch] = await context.db.query<{ id: number; organisation_hsa_id: string; returned_at: Date | null }>('select id, organisation_hsa_id, returned_at from portal_production_batch where id = $1', [file.batch]);
  if (!batch) throw new PortalRefused('not-found', `no production batch ${file.batch}`);
  const recorded = authorize(by, 'production.import', { organisation: batch.organisation_hsa_id, units: [] });
  if (batch.returned_at) throw new PortalRefused('conflict', `batch ${batch.id} was already returned at ${batch.returned_at.toISOString()}`);

  const cards = (await context.db.query<Parameters<typeof cardFromRow>[0]>(`select ${CARD_COLUMNS} from portal_card where batch_id = $1 order by id`, [batch.id])).map(cardFromRow);
  const byId = new Map(cards.map((c) => [c.id, c]));
  const seenOrders = new Set<number>();
  const seenNumbers = new Set<string>();
  const seenKeys = new Map<string, string>();
  const planned: PlannedCertificate[] = [];
  const numbers = new Map<number, string>();
  const skipped: number[] = [];
  for (const line of file.lines) {
    const card = byId.get(line.order);
    if (!card) throw new PortalRefused('invalid', `order ${line.order} is not in batch ${batch.id}`);
    if (seenOrders.has(line.order)) throw new PortalRefused('invalid', `order ${line.order} appears twice in the return file`);
    seenOrders.add(line.order);
    if (card.status === 'withdrawn') {
      skipped.push(card.id);
      continue;
    }
    if (card.status !== 'in-production') throw new PortalRefused('conflict', `order ${card.id} is ${card.status}, not in production`);
    if (seenNumbers.has(line.cardNumber)) throw new PortalRefused('invalid', `card number ${line.cardNumber} appears twice in the return file`);
    seenNumbers.add(line.cardNumber);
    const expected = CARD_SLOTS[card.kind];
    const given = Object.keys(line.csrs);
    const missing = expected.filter((s) => !given.includes(s));
    const extra = given.filter((s) => !expected.includes(s));
    if (missing.length || extra.length) throw new PortalRefused('invalid', `order ${card.id}: expected keys ${expected.join(', ')}${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unexpected ${extra.join(', ')}` : ''}`);
    const person = await findPerson(context.db, card.personnummer, { mayViewProtectedIdentities: true });
    if (!person) throw new PortalRefused('conflict', `order ${card.id}: the holder is no longer in the directory`);
    for (const slot of expected) {
      const csr = line.csrs[slot]!;
      let read;
      try {
        read = await readCsr(csr);
      } catch (error) {
        if (error instanceof IssuanceRefused) throw new PortalRefused('invalid', `order ${card.id}, key ${slot}: ${error.message}`);
        throw error;
      }
      const identifier = slot.endsWith('-pnr') ? card.personnummer : card.holder;
      if (read.subject.serialNumber !== undefined && read.subject.serialNumber !== identifier) {
        throw new PortalRefused('invalid', `order ${card.id}, key ${slot}: the CSR names ${read.subject.serialNumber}, not the order's ${identifier}; the card may belong to another order`);
      }
      const spki = spkiFingerprint(read.publicKey);
      const other = seenKeys.get(spki);
      if (other) throw new PortalRefused('invalid', `order ${card.id}, key ${slot}: the same key is also given for ${other}; every key on a card is its own`);
      seenKeys.set(spki, `order ${card.id} ${slot}`);
      planned.push({
        cardId: card.id,
        slot,
        profile: profileFor(slot, card.loa),
        csr,
        subject: { commonName: `${person.givenName} ${person.surname}`.trim().slice(0, 64), givenName: person.givenName, surname: person.surname, serialNumber: identifier, country: 'SE' },
      });
    }
    numbers.set(card.id, line.cardNumber);
  }
  const absent = cards.filter((c) => c.status === 'in-production' && !seenOrders.has(c.id));
  if (absent.length) throw new PortalRefused('invalid', `the return file lacks order(s) ${absent.map((c) => c.id).join(', ')} of batch ${batch.id}`);
  const used = await context.db.query<{ card_number: string }>('select card_number from portal_card where card_number = any($1::text[])', [[...seenNumbers]]);
  if (used.length) throw new PortalRefused('conflict', `card number(s) ${used.map((u) => u.card_number).join(', ')} already belong to other cards`);

  const issued: { cardId: number; slot: string; serial: string; profile: ProfileName; notAfter: Date }[] = [];
  try {
    for (const plan of planned) {
      const certificate = await context.pki.issueOnHold(plan.profile, plan.csr, plan.subject, recorded.actor);
      issued.push({ cardId: plan.cardId, slot: plan.slot, serial: certificate.serial, profile: plan.profile, notAfter: certificate.notAfter });
    }
    const produced = await context.db.transaction(async (tx) => {
      const marked = await tx.query('update portal_production_batch set return_sha256 = $2, returned_at = $3, returned_by = $4 where id = $1 and returned_at is null returning id', [batch.id, sha256, now, recorded.actor]);
      if (marked.length === 0) throw new PortalRefused('conflict', `batch ${batch.id} was returned meanwhile`);
      // One statement for the whole batch: the report summaries are counted once per statement (migration 0677), not once per card.
      const ids = [...numbers.keys()];
      const certificatesOf = Map.groupBy(issued, (i) => i.cardId);
      // A card stops working when its last certificate ends: the reports count it expired from then (migration 0675).
      const lastNotAfter = (cardId: number) =>
        (certificatesOf.get(cardId) ?? []).reduce<Date | null>((latest, c) => (latest && latest >= c.notAfter ? latest : c.notAfter), null)?.toISOString() ?? null;
      const rows = await tx.query<Parameters<typeof cardFromRow>[0]>(
        `update portal_card set status = 'sent', card_number = x.card_no, photo = null, photo_type = null, updated_at = $4, certificates_not_after = x.last_not_after
           from unnest($1::bigint[], $2::text[], $3::timestamptz[]) as x (card, card_no, last_not_after)
          where id = x.card and status = 'in-production' returning ${CARD_COLUMNS}`,
        [ids, ids.map((id) => numbers.get(id)), ids.map(lastNotAfter), now],
      );
      const updated = new Map(rows.map((row) => [row.id, cardFromRow(row)]));
      const done: Card[] = [];
      for (const cardId of ids) {
        const before = byId.get(cardId)!;
        const certificates = certificatesOf.get(cardId) ?? [];
        const card = updated.get(cardId);
        if (!card) throw new PortalRefused('conflict', `order ${cardId} changed meanwhile`);
        for (const c of certificates) await tx.query('insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, $2, $3, $4)', [cardId, c.slot, c.serial, c.profile]);
        await appendAudit(tx, { ...recorded, action: 'card.produced', target: `card:${cardId}`, before: cardSnapshot(before), after: { ...cardSnapshot(card), certificates: certificates.map((c) => ({ slot: c.slot, serial: c.serial })) } }, now);
        done.push(card);
      }
      await appendAudit(tx, { ...recorded, action: 'production.import', target: `batch:${batch.id}`, before: null, after: { batch: batch.id, sha256, produced: done.map((c) => c.id), skipped } }, now);
      return done;
    });
    return { batchId: batch.id, produced, skipped };
  } catch (error) {
    for (const certificate of issued) await context.pki.revoke({ serial: certificate.serial, reason: 'superseded', actor: recorded.actor }).catch(() => undefined);
    if (error instanceof IssuanceRefused) throw new PortalRefused('invalid', `issuance refused: ${error.message}`);
    throw error;
  }
}

function spkiFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('hex');
}
