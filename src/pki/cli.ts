import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { PartContext } from '../server/index.ts';
import { CA_IDS, isCaId, keyPassphrase } from './hierarchy.ts';
import { caImportFromPkcs12, CaImportRefused, importCa, type CaImport } from './import-ca.ts';
import { IssuanceRefused, type SubjectRequest } from './issue.ts';
import { exportPkcs12 } from './pkcs12.ts';
import { PROFILE_NAMES, type ProfileName } from './profiles.ts';
import { isRevocationReason, REVOCATION_REASONS, RevocationRefused } from './revoke.ts';
import { openPki, type Pki } from './service.ts';

type OpenContext = (command: Command) => Promise<PartContext & { close(): Promise<void> }>;

const MAX_INPUT_FILE = 64 * 1024;

async function readInput(file: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new IssuanceRefused(`${what} ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.length > MAX_INPUT_FILE) throw new IssuanceRefused(`${what} ${file} is larger than 64 KiB`);
  return text;
}

/** A secret named by the environment variable that holds it, so it never sits in the shell history. */
function secretFromEnv(variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const value = process.env[variable];
  if (value === undefined) throw new CaImportRefused(`environment variable ${variable} is not set`);
  return value;
}

async function pemImport(id: string, certFile: string, keyFile: string, passphraseEnv: string | undefined): Promise<CaImport> {
  const privateKeyPassphrase = secretFromEnv(passphraseEnv);
  return { id, certificatePem: await readInput(certFile, 'certificate file'), privateKeyPem: await readInput(keyFile, 'key file'), ...(privateKeyPassphrase !== undefined ? { privateKeyPassphrase } : {}) };
}

async function pkcs12Import(id: string, file: string, passwordEnv: string | undefined): Promise<CaImport> {
  let der: Buffer;
  try {
    der = await readFile(file);
  } catch (error) {
    throw new CaImportRefused(`PKCS#12 file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return caImportFromPkcs12(id, new Uint8Array(der), secretFromEnv(passwordEnv) ?? '');
}

/** `tillit pki …`: the CAs, issuing, revoking, status and CRLs from the command line. */
export function registerPkiCommands(program: Command, open: OpenContext): void {
  const pkiCommand = program.command('pki').description('the PKI: CAs, issuance, revocation, CRLs');
  const withPki = async (command: Command, work: (pki: Pki) => Promise<void>) => {
    const context = await open(command);
    try {
      await work(await openPki(context));
    } finally {
      await context.close();
    }
  };

  const caCommand = pkiCommand.command('ca').description('the certificate authorities');
  caCommand
    .command('list')
    .description('list the CAs with subject, validity and key')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      withPki(command, async (pki) => {
        const rows = CA_IDS.map((id) => {
          const ca = pki.caCertificate(id)!;
          return { id, subject: ca.certificate.subject, notAfter: ca.certificate.notAfter.toISOString(), algorithm: ca.signer.algorithm, parent: ca.parentId };
        });
        if (options.json) console.log(JSON.stringify(rows));
        else for (const r of rows) console.log(`${r.id.padEnd(16)} ${r.algorithm.padEnd(10)} until ${r.notAfter.slice(0, 10)}  ${r.subject}`);
      }),
    );

  caCommand
    .command('import')
    .description('bring your own CA: replace a generated issuing CA, before it issues, with an existing one (PEM files or PKCS#12)')
    .requiredOption('--ca <id>', 'the issuing CA to replace')
    .option('--cert <file>', 'the CA certificate (PEM)')
    .option('--key <file>', 'its private key (PEM: PKCS#8, encrypted or not, PKCS#1 or SEC 1)')
    .option('--key-passphrase-env <variable>', 'environment variable holding the passphrase of an encrypted key')
    .addOption(new Option('--p12 <file>', 'the CA certificate and key as PKCS#12').conflicts(['cert', 'key']))
    .option('--p12-password-env <variable>', 'environment variable holding the PKCS#12 password')
    .option('--json', 'print the result as JSON')
    .action(async (options: { ca: string; cert?: string; key?: string; keyPassphraseEnv?: string; p12?: string; p12PasswordEnv?: string; json?: boolean }, command: Command) => {
      if (!options.p12 && !(options.cert && options.key)) command.error('error: give --cert and --key, or --p12', { exitCode: 2 });
      const request = options.p12 ? await pkcs12Import(options.ca, options.p12, options.p12PasswordEnv) : await pemImport(options.ca, options.cert!, options.key!, options.keyPassphraseEnv);
      const context = await open(command);
      try {
        // Opening the PKI makes the hierarchy on a first run, so there is a CA to replace.
        await openPki(context);
        const { passphrase } = await keyPassphrase(context.config.pki, context.config.dataDir);
        const imported = await importCa(context.db, request, passphrase, context.now());
        console.log(options.json ? JSON.stringify(imported) : `imported ${imported.subject} (${imported.algorithm}) as CA ${imported.id}; restart Tillit to use it`);
      } finally {
        await context.close();
      }
    });

  pkiCommand
    .command('issue')
    .description('issue a certificate from a CSR (PEM out), or with a key made here (PKCS#8 key and certificate out)')
    .addOption(new Option('--profile <profile>', 'certificate profile').choices(PROFILE_NAMES).makeOptionMandatory())
    .addOption(new Option('--csr <file>', 'PKCS#10 request (PEM)').conflicts('subjectJson'))
    .option('--subject-json <file>', 'subject as JSON: commonName, givenName, surname, serialNumber, organization, country, dnsNames, emails')
    .option('--out <file>', 'write the certificate and chain (PEM) here instead of stdout')
    .option('--key-out <file>', 'with --subject-json: write the new private key (PKCS#8 PEM, mode 0600) here')
    .option('--p12 <file>', 'with --subject-json: write key and chain as PKCS#12 (mode 0600) under a new password printed once')
    .option('--json', 'print serial, subject and PEM as JSON')
    .action(async (options: { profile: ProfileName; csr?: string; subjectJson?: string; out?: string; keyOut?: string; p12?: string; json?: boolean }, command: Command) => {
      if (!options.csr && !options.subjectJson) command.error('error: give --csr or --subject-json', { exitCode: 2 });
      if (options.subjectJson && !options.keyOut && !options.p12) command.error('error: --subject-json needs --key-out or --p12 for the new private key', { exitCode: 2 });
      if (options.csr && (options.keyOut || options.p12)) command.error('error: --key-out and --p12 go with --subject-json (a CSR keeps its key)', { exitCode: 2 });
      await withPki(command, async (pki) => {
        let issued;
        let keyPem: string | undefined;
        let p12Password: string | undefined;
        if (options.csr) {
          issued = await pki.issueFromCsr(options.profile, await readInput(options.csr, 'CSR file'));
        } else {
          let subject: SubjectRequest;
          try {
            subject = JSON.parse(await readInput(options.subjectJson!, 'subject file')) as SubjectRequest;
          } catch (error) {
            if (error instanceof IssuanceRefused) throw error;
            throw new IssuanceRefused(`subject file ${options.subjectJson} is not valid JSON: ${(error as Error).message}`);
          }
          if (typeof subject !== 'object' || subject === null || Array.isArray(subject)) throw new IssuanceRefused('the subject file must hold a JSON object');
          const made = await pki.issueWithNewKey(options.profile, subject);
          issued = made;
          keyPem = made.privateKeyPem;
          if (options.p12) {
            p12Password = randomBytes(12).toString('base64url');
            const certificates = [issued.certificatePem, ...issued.chainPem].map((pem) => new X509Certificate(pem).raw);
            await writeFile(options.p12, await exportPkcs12({ privateKey: made.keyPair.privateKey, certificates, password: p12Password, friendlyName: issued.subject }), { mode: 0o600 });
          }
        }
        const pem = [issued.certificatePem, ...issued.chainPem].map((p) => `${p.trim()}\n`).join('');
        if (keyPem && options.keyOut) await writeFile(options.keyOut, keyPem, { mode: 0o600 });
        if (options.out) await writeFile(options.out, pem);
        if (options.json) console.log(JSON.stringify({ serial: issued.serial, profile: issued.profile, ca: issued.caId, subject: issued.subject, notAfter: issued.notAfter.toISOString(), pem, ...(p12Password ? { p12: options.p12, p12Password } : {}) }));
        else if (!options.out && !options.p12) process.stdout.write(pem);
        else console.log(`issued ${issued.serial} (${issued.subject}) to ${[options.out, options.p12].filter(Boolean).join(' and ')}`);
        // The only copy of the password: shown once, like the key it protects.
        if (p12Password && !options.json) console.log(`PKCS#12 password (shown once): ${p12Password}`);
      });
    });

  pkiCommand
    .command('revoke')
    .description('revoke a certificate; a request received earlier keeps its time with --invalidity-date')
    .requiredOption('--serial <hex>', 'serial number')
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason').choices(Object.keys(REVOCATION_REASONS)).makeOptionMandatory())
    .option('--invalidity-date <time>', 'when the request was received or the key was compromised (ISO 8601)')
    .option('--actor <who>', 'who registers the revocation', process.env['USER'] ?? 'cli')
    .option('--json', 'print the status as JSON')
    .action(async (options: { serial: string; reason: string; invalidityDate?: string; actor: string; json?: boolean }, command: Command) => {
      if (!isRevocationReason(options.reason)) throw new RevocationRefused(`unknown reason ${options.reason}`);
      const invalidityDate = options.invalidityDate ? new Date(options.invalidityDate) : undefined;
      if (invalidityDate && Number.isNaN(invalidityDate.getTime())) throw new RevocationRefused(`--invalidity-date ${JSON.stringify(options.invalidityDate)} is not a time (use ISO 8601, e.g. 2026-11-20T14:30:00Z)`);
      await withPki(command, async (pki) => {
        const { status, changed } = await pki.revoke({ serial: options.serial, reason: options.reason as keyof typeof REVOCATION_REASONS, actor: options.actor, ...(invalidityDate ? { invalidityDate } : {}) });
        if (options.json) console.log(JSON.stringify({ ...status, changed }));
        else console.log(changed ? `revoked ${status.serial} (${status.reason})` : `${status.serial} was already revoked (${status.reason}); nothing changed (registered by ${status.revokedBy ?? 'unknown'})`);
      });
    });

  pkiCommand
    .command('release')
    .description('release a certificateHold (only with pki.allowCertificateHold): the certificate is good again')
    .requiredOption('--serial <hex>', 'serial number')
    .option('--actor <who>', 'who registers the release', process.env['USER'] ?? 'cli')
    .option('--json', 'print the status as JSON')
    .action(async (options: { serial: string; actor: string; json?: boolean }, command: Command) =>
      withPki(command, async (pki) => {
        const status = await pki.releaseHold(options.serial, options.actor);
        console.log(options.json ? JSON.stringify(status) : `released the hold on ${status.serial}; it is ${status.status} again`);
      }),
    );

  pkiCommand
    .command('status')
    .description('status of a certificate issued here')
    .requiredOption('--serial <hex>', 'serial number')
    .option('--json', 'print as JSON')
    .action(async (options: { serial: string; json?: boolean }, command: Command) =>
      withPki(command, async (pki) => {
        const status = await pki.status(options.serial);
        if (!status) throw new RevocationRefused(`no certificate with serial ${options.serial} was issued here`);
        if (options.json) console.log(JSON.stringify(status));
        else {
          const revoked = status.revokedAt ? ` (${status.reason ?? 'unspecified'}) at ${status.revokedAt.toISOString()} by ${status.revokedBy ?? 'unknown'}` : '';
          console.log(`${status.serial} ${status.status}${revoked}  ${status.profile}  ${status.subject}  until ${status.notAfter.toISOString()}`);
        }
      }),
    );

  pkiCommand
    .command('crl')
    .description('write the current CRL of a CA (DER) to a file, or print its summary')
    .requiredOption('--ca <id>', `CA id (${CA_IDS.join(', ')})`)
    .option('--out <file>', 'write the DER CRL here')
    .option('--json', 'print the summary as JSON')
    .action(async (options: { ca: string; out?: string; json?: boolean }, command: Command) => {
      if (!isCaId(options.ca)) command.error(`error: unknown CA ${options.ca} (one of ${CA_IDS.join(', ')})`, { exitCode: 2 });
      await withPki(command, async (pki) => {
        const crl = await pki.currentCrl(options.ca as (typeof CA_IDS)[number]);
        if (options.out) await writeFile(options.out, crl.der);
        const summary = { ca: options.ca, number: crl.number, entries: crl.entries, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString(), bytes: crl.der.length };
        console.log(options.json ? JSON.stringify(summary) : `CRL ${summary.number} of ${summary.ca}: ${summary.entries} entries, ${summary.bytes} bytes, next update ${summary.nextUpdate}${options.out ? `, written to ${options.out}` : ''}`);
      });
    });
}
