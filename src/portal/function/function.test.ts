import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM_PATH } from '../../../test/support/browser.ts';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { loadConfig } from '../../config/index.ts';
import type { FunctionObject, Region } from '../../directory/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import { readAudit, verifyAudit, type AuditEntry } from '../audit.ts';
import { PortalRefused } from '../errors.ts';
import { appointRole } from '../role-store.ts';
import type { Role } from '../roles.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { downloadFunctionCertificate, loadFunctionCertificate, orderFunctionCertificate, renewFunctionCertificate, revokeFunctionCertificate, supersedeOverdue, SUPERSEDE_GRACE_DAYS } from './certificates.ts';
import type { FunctionContext } from './context.ts';
import { failingFunctionObjects, isInsideDomain, uncoveredReason, validateDomain, type DomainValidation } from './domains.ts';
import { authoriseOrderer, authorisedObjects } from './orderers.ts';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};

describe('domain rules', () => {
  const at = new Date('2026-11-01T00:00:00Z');
  const validation = (domain: string, validUntil: string): DomainValidation => ({
    id: 1, organisation: 'SE1', domain, method: 'dns-txt', evidence: 'x', validatedBy: 'SE1-A', validatedAt: new Date('2026-01-01T00:00:00Z'), validUntil: new Date(validUntil),
  });
  it('a name is inside a domain only as the domain itself or below it, never a look-alike', () => {
    assert.ok(isInsideDomain('journal.region.example', 'region.example'));
    assert.ok(isInsideDomain('REGION.example.', 'region.example'));
    assert.ok(!isInsideDomain('evilregion.example', 'region.example'));
    assert.ok(!isInsideDomain('region.example.attacker.test', 'region.example'));
  });
  it('says whether a name is outside every domain or its domain expired', () => {
    const list = [validation('region.example', '2026-10-01T00:00:00Z'), validation('other.example', '2027-01-01T00:00:00Z')];
    assert.equal(uncoveredReason('a.other.example', list, at), null);
    assert.match(uncoveredReason('a.region.example', list, at)!, /validation of region\.example expired 2026-10-01/);
    assert.match(uncoveredReason('a.third.example', list, at)!, /outside every validated domain/);
  });
});

for (const target of databaseTargets()) {
  describe(`function certificates: domains, orderers, order, download, renew, revoke (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let pki: Pki;
    let context: FunctionContext;
    let clock = new Date();
    let orgA: string;
    let object: FunctionObject;
    let otherObject: FunctionObject;
    let domain: string;
    const files = scratch();
    const config = loadConfig({ overrides: { dataDir: 'memory://' } });
    const actors: Record<'issuer' | 'orderer' | 'unauthorised' | 'specialist' | 'foreign', Principal> = {} as never;
    const hsa: Record<keyof typeof actors, string> = {} as never;
    const reload = async () => {
      for (const name of Object.keys(hsa) as (keyof typeof actors)[]) actors[name] = await loadActor(db, hsa[name], clock, 365);
    };
    const certificateCount = async () => (await db.query<{ n: number }>('select count(*)::int as n from pki_certificates')).at(0)!.n;
    const csr = (name: string, serialNumber: string, san: string) => opensslCsr(files, name, { subject: `/CN=${name}/serialNumber=${serialNumber}`, san });
    /** OpenSSL asks our OCSP responder about a certificate and checks the signed answer against the root. */
    const ocspStatus = async (name: string, pem: string) => {
      files.file(`${name}.pem`, pem);
      const request = openssl(['ocsp', '-issuer', files.path('issuer.pem'), '-cert', files.path(`${name}.pem`), '-reqout', files.path(`${name}.req`)]);
      assert.ok(request.ok, request.output);
      const answer = await pki.ocsp.respond(new Uint8Array(files.read(`${name}.req`)));
      files.file(`${name}.resp`, answer.der);
      // With a nonce: a fresh answer, not one cached before the revocation.
      const checked = openssl(['ocsp', '-reqin', files.path(`${name}.req`), '-respin', files.path(`${name}.resp`), '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-resp_text']);
      assert.match(checked.output, new RegExp(`Serial Number: ${serialOf(pem)}`, 'i'));
      assert.match(checked.output, /Response verify OK/, checked.output);
      return checked.output;
    };
    /** The CSR with one character of its body changed. */
    const tampered = (pem: string) => {
      const lines = pem.split('\n');
      lines[3] = `${lines[3]![0] === 'A' ? 'B' : 'A'}${lines[3]!.slice(1)}`;
      return lines.join('\n');
    };
    const auditEntries = async () => {
      const entries: AuditEntry[] = [];
      for await (const entry of readAudit(db)) entries.push(entry);
      return entries;
    };
    const serialOf = (pem: string) => /serial=([0-9A-F]+)/i.exec(openssl(['x509', '-noout', '-serial'], pem).output)![1]!;
    let first: string;
    let renewed: string;

    before(async () => {
      db = await target.open();
      clock = new Date();
      region = await seedTestRegion(db, clock);
      // An organisation with two function objects (the generated region gives some), and another one.
      orgA = region.organisations.find((o) => region.functionObjects.filter((f) => f.organisationHsaId === o.hsaId).length >= 2)!.hsaId;
      const orgB = region.organisations.find((o) => o.hsaId !== orgA)!.hsaId;
      const objects = region.functionObjects.filter((f) => f.organisationHsaId === orgA);
      [object, otherObject] = objects as [FunctionObject, FunctionObject];
      domain = object.dnsNames[0]!.split('.').slice(1).join('.');
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      context = { db, pki, now: () => clock };
      const [issuerPem, rootPem] = pki.chainOf('function');
      files.file('issuer.pem', `${issuerPem!.trim()}\n`);
      files.file('root.pem', `${rootPem!.trim()}\n`);
      const a = employeesOf(region, orgA);
      const b = employeesOf(region, orgB);
      const operator = { operator: 'test' };
      const appoint = (holder: string, role: Role, organisation: string) => appointRole(db, operator, { holder, role, organisation, unit: null, trainedOn: null }, clock);
      Object.assign(hsa, { issuer: a[0]!.hsaId, orderer: a[1]!.hsaId, unauthorised: a[2]!.hsaId, specialist: a[3]!.hsaId, foreign: b[0]!.hsaId });
      await appoint(hsa.issuer, 'responsible-issuer', orgA);
      await appoint(hsa.orderer, 'function-certificate-orderer', orgA);
      await appoint(hsa.unauthorised, 'function-certificate-orderer', orgA);
      await appoint(hsa.specialist, 'validation-specialist', orgA);
      await appoint(hsa.foreign, 'function-certificate-orderer', orgB);
      await reload();
    });
    after(async () => {
      files.done();
      await db.close();
    });

    it('a validation specialist records a domain (method, who, until when); others are refused; bad claims name the problem', async () => {
      const claim = { organisation: orgA, domain, method: 'dns-txt' as const, evidence: `_tillit-validation.${domain} TXT abc123`, validUntil: new Date(clock.getTime() + 90 * DAY_MS) };
      assert.ok((await failingFunctionObjects(context, actors.specialist, orgA)).some((f) => f.functionObject === object.hsaId && /outside every validated domain/.test(f.reasons.join())));
      await assert.rejects(validateDomain(context, actors.orderer, claim), refused('forbidden', /domain\.validate/));
      await assert.rejects(validateDomain(context, actors.issuer, claim), refused('forbidden', /domain\.validate/));
      await assert.rejects(validateDomain(context, actors.specialist, { ...claim, domain: '*.example' }), refused('invalid', /not a domain name/));
      await assert.rejects(validateDomain(context, actors.specialist, { ...claim, validUntil: new Date(clock.getTime() + 500 * DAY_MS) }), refused('invalid', /at most 398 days/));
      await assert.rejects(validateDomain(context, actors.specialist, { ...claim, validUntil: new Date(clock.getTime() - 1000) }), refused('invalid', /future/));
      await assert.rejects(failingFunctionObjects(context, actors.orderer, orgA), refused('forbidden', /domain\.validate/));
      const validation = await validateDomain(context, actors.specialist, claim);
      assert.equal(validation.validatedBy, hsa.specialist);
      assert.equal(validation.method, 'dns-txt');
      assert.ok(!(await failingFunctionObjects(context, actors.specialist, orgA)).some((f) => f.functionObject === object.hsaId));
      const [entry] = (await auditEntries()).filter((e) => e.action === 'domain.validate');
      assert.equal(entry?.actor, hsa.specialist);
      assert.equal(entry?.role, 'validation-specialist');
    });

    it('the responsible issuer authorises an orderer per function object; an orderer cannot authorise anyone', async () => {
      await assert.rejects(authoriseOrderer(context, actors.orderer, object.hsaId, hsa.orderer), refused('forbidden', /role\.appoint/));
      await assert.rejects(authoriseOrderer(context, actors.issuer, 'SE0000000000-NOPE', hsa.orderer), refused('not-found', /no current function object/));
      const authorisation = await authoriseOrderer(context, actors.issuer, object.hsaId, hsa.orderer);
      assert.equal(authorisation.authorisedBy, hsa.issuer);
      await assert.rejects(authoriseOrderer(context, actors.issuer, object.hsaId, hsa.orderer), refused('conflict', /already authorised/));
      assert.deepEqual((await authorisedObjects(db, hsa.orderer)).map((a) => a.functionObject), [object.hsaId]);
    });

    it('refuses with the reason and issues nothing: not authorised, someone else\'s HSA-id, a domain not validated, a look-alike, a wrong profile', async () => {
      const before = await certificateCount();
      const good = csr('good', object.hsaId, `DNS:${object.dnsNames[0]}`);
      const order = { functionObject: object.hsaId, profile: 'function-server' as const, csrPem: good };
      await assert.rejects(orderFunctionCertificate(context, actors.unauthorised, order), refused('forbidden', /not authorised to order certificates for function object/));
      await assert.rejects(orderFunctionCertificate(context, actors.foreign, order), refused('forbidden', /function-certificate\.order in SE/));
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, functionObject: otherObject.hsaId }), refused('forbidden', /not authorised/));
      await assert.rejects(
        orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: csr('stolen', otherObject.hsaId, `DNS:${object.dnsNames[0]}`) }),
        refused('invalid', new RegExp(`serialNumber ${otherObject.hsaId} is not this function object's HSA-id ${object.hsaId}`)),
      );
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: csr('unvalidated', object.hsaId, 'DNS:www.not-validated.example') }), refused('invalid', /www\.not-validated\.example is outside every validated domain/));
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: csr('lookalike', object.hsaId, `DNS:${object.dnsNames[0]},DNS:evil${domain}`) }), refused('invalid', new RegExp(`evil${domain.replaceAll('.', '\\.')} is outside`)));
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: csr('nosan', object.hsaId, `email:x@${domain}`) }), refused('invalid', /does not allow e-mail|needs at least one of DNS/));
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, profile: 'mobile' as never }), refused('invalid', /profile must be one of/));
      await assert.rejects(
        orderFunctionCertificate(context, actors.orderer, { ...order, profile: 'function-email', csrPem: csr('mailbox', object.hsaId, 'email:registrator@elsewhere.example') }),
        refused('invalid', /elsewhere\.example is outside every validated domain/),
      );
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: tampered(good) }), refused('invalid', /CSR|cannot be read/));
      const rsa1024 = opensslCsr(files, 'weak', { subject: `/CN=weak/serialNumber=${object.hsaId}`, key: ['-newkey', 'rsa:1024'], san: `DNS:${object.dnsNames[0]}` });
      await assert.rejects(orderFunctionCertificate(context, actors.orderer, { ...order, csrPem: rsa1024 }), refused('invalid', /RSA|bits|key/i));
      assert.equal(await certificateCount(), before);
    });

    it('orders, downloads a chain OpenSSL verifies and a PKCS#7 it prints; a TLS server with the certificate is trusted by curl and Chromium with the root, refused without', async () => {
      const csrPem = csr('server', object.hsaId, `DNS:${object.dnsNames[0]}`);
      const certificate = await orderFunctionCertificate(context, actors.orderer, { functionObject: object.hsaId, profile: 'function-server', csrPem });
      first = certificate.serial;
      assert.deepEqual(certificate.dnsNames, [object.dnsNames[0]]);
      await assert.rejects(downloadFunctionCertificate(context, actors.unauthorised, first, 'pem'), refused('forbidden', /not authorised/));
      const pem = (await downloadFunctionCertificate(context, actors.orderer, first, 'pem')).body as string;
      assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 3);
      files.file('server-chain.pem', pem);
      const verified = openssl(['verify', '-CAfile', files.path('root.pem'), '-untrusted', files.path('server-chain.pem'), '-purpose', 'sslserver', files.path('server-chain.pem')]);
      assert.match(verified.output, /server-chain\.pem: OK/, verified.output);
      const text = openssl(['x509', '-noout', '-subject', '-ext', 'subjectAltName', '-in', files.path('server-chain.pem')]).output;
      assert.match(text, new RegExp(`serialNumber\\s*=\\s*${object.hsaId}`));
      const p7 = (await downloadFunctionCertificate(context, actors.orderer, first, 'pkcs7')).body as Uint8Array;
      files.file('server.p7b', p7);
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', files.path('server.p7b'), '-print_certs', '-noout']);
      assert.ok(printed.ok, printed.output);
      assert.equal(printed.output.match(/^subject=/gm)?.length, 3, printed.output);
      assert.match(printed.output, new RegExp(`serialNumber\\s*=\\s*${object.hsaId}`));

      const server: Server = createServer({ key: files.read('server.key'), cert: pem }, (_req, res) => res.end('function certificate works'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const host = object.dnsNames[0]!;
        const { stdout } = await run('curl', ['-sS', '--cacert', files.path('root.pem'), '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`]);
        assert.equal(stdout, 'function certificate works');
        await assert.rejects(run('curl', ['-sS', '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`]), /certificate/i);
        // Chromium with the root trusted in its NSS store (a scratch HOME), and without it.
        const home = files.path('chromium-home');
        mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
        await run('certutil', ['-N', '-d', `sql:${join(home, '.pki', 'nssdb')}`, '--empty-password']);
        await run('certutil', ['-A', '-d', `sql:${join(home, '.pki', 'nssdb')}`, '-n', 'Tillit root', '-t', 'C,,', '-i', files.path('root.pem')]);
        const visit = async (env: Record<string, string>) => {
          const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, env: { ...process.env, ...env } as Record<string, string>, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--host-resolver-rules=MAP ${host} 127.0.0.1`] });
          try {
            const page = await browser.newPage();
            const answer = await page.goto(`https://${host}:${port}/`).then(async () => page.textContent('body'), (error: Error) => error.message);
            return answer;
          } finally {
            await browser.close();
          }
        };
        assert.equal(await visit({ HOME: home }), 'function certificate works');
        assert.match((await visit({ HOME: files.path('empty-home') })) ?? '', /ERR_CERT_AUTHORITY_INVALID/);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('renews: the old certificate stays good until the new one is fetched, then OCSP says superseded; else after the grace period', async () => {
      await assert.rejects(renewFunctionCertificate(context, actors.orderer, first, csr('stolen2', otherObject.hsaId, `DNS:${object.dnsNames[0]}`)), refused('invalid', /not this function object's HSA-id/));
      const next = await renewFunctionCertificate(context, actors.orderer, first, csr('renewed', object.hsaId, `DNS:${object.dnsNames[0]}`));
      renewed = next.serial;
      assert.equal(next.replaces, first);
      const count = await certificateCount();
      await assert.rejects(renewFunctionCertificate(context, actors.orderer, first, csr('again', object.hsaId, `DNS:${object.dnsNames[0]}`)), refused('conflict', /already renewed \(by [0-9a-f]+\)/));
      assert.equal(await certificateCount(), count);
      const firstPem = openssl(['x509', '-in', files.path('server-chain.pem')]).output;
      assert.match(await ocspStatus('first-before', firstPem), /Cert Status: good/);
      await downloadFunctionCertificate(context, actors.orderer, renewed, 'pem');
      assert.equal((await loadFunctionCertificate(db, first)).revocationReason, 'superseded');
      const status = await ocspStatus('first-after', firstPem);
      assert.match(status, /Cert Status: revoked/);
      assert.match(status, /Revocation Reason: superseded/);

      // Renewed but never fetched: the grace period ends it.
      const third = await renewFunctionCertificate(context, actors.orderer, renewed, csr('third', object.hsaId, `DNS:${object.dnsNames[0]}`));
      assert.deepEqual(await supersedeOverdue(context), []);
      clock = new Date(clock.getTime() + (SUPERSEDE_GRACE_DAYS + 1) * DAY_MS);
      await reload();
      assert.deepEqual(await supersedeOverdue(context), [renewed]);
      assert.equal((await pki.status(renewed))?.reason, 'superseded');
      assert.equal((await loadFunctionCertificate(db, third.serial)).revokedAt, null);
      renewed = third.serial;
    });

    it('revokes with the reason; OpenSSL sees it revoked at OCSP; only an authorised orderer may', async () => {
      await assert.rejects(revokeFunctionCertificate(context, actors.unauthorised, renewed, 'keyCompromise'), refused('forbidden', /not authorised/));
      await assert.rejects(revokeFunctionCertificate(context, actors.orderer, renewed, 'certificateHold' as never), refused('invalid', /reason must be one of/));
      const pem = (await downloadFunctionCertificate(context, actors.orderer, renewed, 'pem')).body as string;
      const revoked = await revokeFunctionCertificate(context, actors.orderer, renewed, 'keyCompromise');
      assert.equal(revoked.revocationReason, 'keyCompromise');
      const status = await ocspStatus('third', openssl(['x509'], pem).output);
      assert.match(status, /Cert Status: revoked/);
      assert.match(status, /Revocation Reason: keyCompromise/);
      await assert.rejects(revokeFunctionCertificate(context, actors.orderer, renewed, 'keyCompromise'), refused('conflict', /already revoked/));
    });

    it('an expired domain validation refuses new orders and lists the object as failing; every step is in the verified audit trail', async () => {
      clock = new Date(clock.getTime() + 100 * DAY_MS);
      await reload();
      const before = await certificateCount();
      await assert.rejects(
        orderFunctionCertificate(context, actors.orderer, { functionObject: object.hsaId, profile: 'function-server', csrPem: csr('late', object.hsaId, `DNS:${object.dnsNames[0]}`) }),
        refused('invalid', new RegExp(`validation of ${domain.replaceAll('.', '\\.')} expired`)),
      );
      assert.equal(await certificateCount(), before);
      const failing = await failingFunctionObjects(context, actors.specialist, orgA);
      assert.ok(failing.some((f) => f.functionObject === object.hsaId && /expired/.test(f.reasons.join())), JSON.stringify(failing));
      const actions = (await auditEntries()).map((e) => e.action);
      for (const action of ['domain.validate', 'function-orderer.authorise', 'function-certificate.order', 'function-certificate.renew', 'function-certificate.revoke']) assert.ok(actions.includes(action), action);
      assert.ok(actions.some((a) => a.startsWith('function-certificate.supersede')));
      assert.equal((await verifyAudit(db)).ok, true);
    });
  });
}
