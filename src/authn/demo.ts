import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { enrollMobileEid, importCard, openKeyStore } from '../app/index.ts';
import type { Config } from '../config/index.ts';
import { generateRegion } from '../directory/index.ts';
import { exportPkcs12, type Pki, type ProfileName } from '../pki/index.ts';
import type { EnrolmentService } from './enrolment.ts';

/** The demo persons' PIN (app key store and card files alike): printed at start, never for real use. */
export const DEMO_PIN = '123456';

/**
 * Gives the demo persons the directory part prints ready eIDs: an app home
 * folder under dataDir with a mobile eID enrolled through the enrolment
 * service, and a card (authentication and signature certificates from the
 * HSA-id LoA 3 CA, as PKCS#12 files and imported into the same app).
 * Idempotent: a person who already has both is left alone.
 */
export async function seedDemoEids(config: Config, pki: Pki, enrolment: EnrolmentService): Promise<string[]> {
  if (config.dataDir === 'memory://') return ['Demo eIDs: none (dataDir is memory://, so there is no folder for the app)'];
  const region = generateRegion({ persons: config.directory.demo.persons, seed: config.directory.demo.seed, regionName: config.demo.regionName });
  const employeesOf = Map.groupBy(region.employees, (e) => e.personnummer);
  const alive = region.register.filter((r) => !r.deceased && !r.protectedIdentity);
  // The same two persons the directory part prints: one with one service identity, one with two.
  const persons = [alive.find((r) => employeesOf.get(r.personnummer)?.length === 1), alive.find((r) => (employeesOf.get(r.personnummer)?.length ?? 0) > 1)].filter((p) => p !== undefined);
  const lines = [`Demo eIDs (PIN ${DEMO_PIN} for the app and for the card files):`];
  for (const person of persons) {
    const hsaId = employeesOf.get(person.personnummer)![0]!.hsaId;
    const home = join(config.dataDir, 'demo-eids', person.personnummer);
    await mkdir(home, { recursive: true, mode: 0o700 });
    const keys = await openKeyStore(home);
    if (!keys.list().some((c) => c.kind === 'mobile' && c.certificatePem)) {
      const { code } = await enrolment.createCode(person.personnummer, 'demo seed');
      await enrollMobileEid(keys, DEMO_PIN, (csr) => enrolment.redeem(code, csr, 'demo'), 'Mobilt eID');
    }
    const cardFiles = [join(home, 'card-auth.p12'), join(home, 'card-sign.p12')];
    if (!keys.list().some((c) => c.kind === 'card')) {
      const subject = { commonName: `${person.givenName} ${person.surname}`, givenName: person.givenName, surname: person.surname, serialNumber: hsaId };
      const files: Uint8Array[] = [];
      for (const [index, profile] of (['person-auth-hsa-loa3', 'person-sign-hsa-loa3'] as ProfileName[]).entries()) {
        const issued = await pki.issueWithNewKey(profile, subject);
        const p12 = await exportPkcs12({
          privateKey: createPrivateKey(issued.privateKeyPem),
          certificates: [issued.certificatePem, ...issued.chainPem].map((pem) => new Uint8Array(new X509Certificate(pem).raw)),
          password: DEMO_PIN,
          friendlyName: `${subject.commonName} (${index === 0 ? 'legitimering' : 'underskrift'})`,
        });
        await writeFile(cardFiles[index]!, p12, { mode: 0o600 });
        files.push(p12);
      }
      await importCard(keys, files, DEMO_PIN, DEMO_PIN, 'Demokort');
    }
    // Relative to where `npm start` runs when inside it (the usual ./data), else as configured.
    const shown = relative(process.cwd(), home).startsWith('..') ? home : relative(process.cwd(), home);
    lines.push(
      `  ${person.givenName} ${person.surname} (${person.personnummer}, ${hsaId}): app home ${shown} (mobile eID and card), card files ${join(shown, 'card-auth.p12')} and card-sign.p12`,
      `    log in: on the login page copy the link of the "this device" button, then run`,
      `    npx tillit app approve --home ${shown} --pin ${DEMO_PIN} --autostart-token '<the link>'`,
    );
  }
  return lines;
}
