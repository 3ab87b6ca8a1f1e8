import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import pino from 'pino';
import { SignedXml } from 'xml-crypto';
import { opensslCertificate, scratch } from '../../../test/support/openssl.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import { loadConfig } from '../../config/index.ts';
import { listRuns, parseSchedule, registerJobCommands, runJob, type RunnerDependencies } from '../../jobs/index.ts';
import type { Database } from '../../store/index.ts';
import { AGGREGATE_REFRESH_JOB, aggregateRefreshJob } from './aggregate-job.ts';
import { samlConfigSchema } from './config.ts';
import { findServiceProvider, listServiceProviders } from './sps.ts';

const log = pino({ level: 'silent' });
const TZ = 'Europe/Stockholm';

const federation = opensslCertificate('/CN=federation operator');
const stranger = opensslCertificate('/CN=not the federation');
const spSigning = opensslCertificate('/CN=sp signing');
const certBody = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, '');

function entity(entityId: string, acs = 'https://lab.example/acs'): string {
  return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBody(spSigning.certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService index="1" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${acs}"/>
  </md:SPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="en">Lab</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Lab results</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://lab.example/</md:OrganizationURL></md:Organization>
</md:EntityDescriptor>`;
}

/** Signed as a federation operator would (xml-crypto, enveloped, first child). */
function signedAggregate(entities: string[], keys = federation): string {
  const xml = `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_federation" Name="test-federation">${entities.join('')}</md:EntitiesDescriptor>`;
  const signer = new SignedXml({ privateKey: keys.key, publicCert: keys.certificate, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  signer.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
  signer.computeSignature(xml, { prefix: 'ds', location: { reference: '/*', action: 'prepend' } });
  return signer.getSignedXml();
}

for (const target of databaseTargets()) {
  describe(`the saml-aggregate-refresh job (${target.name})`, () => {
    let db: Database;
    let server: Server;
    let served = '';
    let fetches = 0;
    let source = '';
    const files = scratch();
    let clock = new Date('2026-05-04T08:00:00Z');
    const deps = (node: string): RunnerDependencies => ({ db, log, now: () => clock, node, leaseMs: 60_000 });
    const jobFor = (aggregates: unknown[]) => aggregateRefreshJob(samlConfigSchema.parse({ aggregates }));
    let spec: { source: string; certificateFile: string; refreshMinutes: number; attributes: string[] };

    before(async () => {
      db = await target.open();
      server = createServer((_request, response) => {
        fetches += 1;
        response.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(served);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      source = `http://127.0.0.1:${(server.address() as { port: number }).port}/federation.xml`;
      spec = { source, certificateFile: files.file('federation.pem', federation.certificate), refreshMinutes: 30, attributes: ['personalIdentityNumber'] };
    });
    after(async () => {
      await db?.close();
      await new Promise((resolve) => server?.close(resolve));
      files.done();
    });

    it('its default schedule is the shortest refreshMinutes, off without aggregates', () => {
      assert.equal(jobFor([spec, { ...spec, refreshMinutes: 240 }]).defaultSchedule, 'every 30m');
      assert.equal(jobFor([]).defaultSchedule, 'off');
      assert.equal(jobFor([spec]).name, AGGREGATE_REFRESH_JOB);
    });

    it('a dry run says what it would add and changes nothing; a run adds, updates and removes as the signed aggregate says; each run is recorded', async () => {
      const job = jobFor([spec]);
      served = signedAggregate([entity('https://agg-a.example/sp'), entity('https://agg-b.example/sp')]);
      const dry = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: true });
      assert.equal(dry.status, 'succeeded');
      assert.deepEqual((dry.status === 'succeeded' && (dry.summary['aggregates'] as { added: string[] }[])[0]!.added.sort()), ['https://agg-a.example/sp', 'https://agg-b.example/sp']);
      assert.equal(await findServiceProvider(db, 'https://agg-a.example/sp'), null, 'a dry run registers nothing');

      const first = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: false });
      assert.equal(first.status, 'succeeded');
      assert.deepEqual((await findServiceProvider(db, 'https://agg-a.example/sp'))!.allowedAttributes, ['personalIdentityNumber']);

      served = signedAggregate([entity('https://agg-a.example/sp', 'https://lab.example/new-acs')]);
      const second = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: false });
      assert.ok(second.status === 'succeeded');
      assert.deepEqual(second.summary['aggregates'], [{ source, added: [], updated: ['https://agg-a.example/sp'], removed: ['https://agg-b.example/sp'], skipped: [] }]);
      assert.equal(await findServiceProvider(db, 'https://agg-b.example/sp'), null);
      assert.equal((await findServiceProvider(db, 'https://agg-a.example/sp'))!.descriptor.assertionConsumerServices[0]!.location, 'https://lab.example/new-acs');

      const runs = await listRuns(db, { job: AGGREGATE_REFRESH_JOB });
      assert.deepEqual(runs.map((r) => [r.outcome, r.dryRun]), [['succeeded', false], ['succeeded', false], ['succeeded', true]]);
    });

    it('a refused aggregate (tampered, wrong signer, unsigned, unreachable) fails the run with its reason and changes nothing; the other aggregates are still refreshed', async () => {
      const good = signedAggregate([entity('https://agg-a.example/sp', 'https://lab.example/new-acs')]);
      const otherFile = files.file('other.xml', signedAggregate([entity('https://agg-other.example/sp')]));
      const job = jobFor([spec, { ...spec, source: otherFile }]);
      for (const [body, reason] of [
        [good.replace('new-acs', 'evil-acs'), /does not verify/],
        [signedAggregate([entity('https://agg-a.example/sp', 'https://evil.example/acs')], stranger), /does not verify/],
        [good.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, ''), /expected one signature/],
        ['<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', /DOCTYPE/],
      ] as const) {
        served = body;
        const result = await runJob(deps('node-a'), job, { trigger: 'manual', dryRun: false });
        assert.ok(result.status === 'failed', String(reason));
        assert.match(result.error, reason);
        assert.ok(result.error.includes(source), 'names the aggregate');
        assert.equal((await findServiceProvider(db, 'https://agg-a.example/sp'))!.descriptor.assertionConsumerServices[0]!.location, 'https://lab.example/new-acs', 'nothing changed');
      }
      assert.ok(await findServiceProvider(db, 'https://agg-other.example/sp'), 'the good aggregate was refreshed in the same run');
      const missing = await runJob(deps('node-a'), jobFor([{ ...spec, source: files.path('absent.xml') }]), { trigger: 'manual', dryRun: false });
      assert.ok(missing.status === 'failed');
      assert.match(missing.error, /cannot read .*absent\.xml: ENOENT/);
      served = good;
    });

    it('two nodes whose schedulers find it due at once: one run, one fetch', async () => {
      const job = jobFor([spec]);
      const due = { schedule: parseSchedule(job.defaultSchedule), timeZone: TZ };
      for (let round = 0; round < 5; round++) {
        clock = new Date(clock.getTime() + 31 * 60_000);
        const before = (await listRuns(db, { job: AGGREGATE_REFRESH_JOB, limit: 1000 })).length;
        fetches = 0;
        const results = await Promise.all([runJob(deps('node-a'), job, { trigger: 'schedule', dryRun: false, due }), runJob(deps('node-b'), job, { trigger: 'schedule', dryRun: false, due })]);
        const statuses = results.map((r) => r.status).sort();
        assert.equal(statuses.filter((s) => s === 'succeeded').length, 1, statuses.join());
        assert.ok(statuses.every((s) => s === 'succeeded' || s === 'busy' || s === 'not due'), statuses.join());
        assert.equal(fetches, 1, 'the aggregate was fetched by one node');
        assert.equal((await listRuns(db, { job: AGGREGATE_REFRESH_JOB, limit: 1000 })).length, before + 1);
      }
      assert.equal((await listServiceProviders(db)).filter((sp) => sp.entityId === 'https://agg-a.example/sp').length, 1);
    });

    it('tillit jobs run saml-aggregate-refresh --dry-run prints the run and what it would do', async () => {
      served = signedAggregate([entity('https://agg-a.example/sp', 'https://lab.example/new-acs'), entity('https://agg-c.example/sp')]);
      const config = loadConfig({ env: {}, overrides: { dataDir: 'memory://' } });
      const out: string[] = [];
      const program = new Command().exitOverride();
      registerJobCommands(program, async () => ({ config, db, log, now: () => clock, jobs: [jobFor([spec])], close: async () => {} }), (text) => out.push(text));
      await program.parseAsync(['node', 'tillit', 'jobs', 'run', AGGREGATE_REFRESH_JOB, '--dry-run', '--json']);
      const run = JSON.parse(out.join('')) as { outcome: string; dryRun: boolean; summary: { aggregates: { added: string[]; updated: string[] }[] } };
      assert.equal(run.outcome, 'succeeded');
      assert.equal(run.dryRun, true);
      assert.deepEqual(run.summary.aggregates[0]!.added, ['https://agg-c.example/sp']);
      assert.deepEqual(run.summary.aggregates[0]!.updated, ['https://agg-a.example/sp']);
      assert.equal(await findServiceProvider(db, 'https://agg-c.example/sp'), null);
    });
  });
}
