import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { openssl, scratch } from '../../test/support/openssl.ts';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp.ts';
import { databaseTargets } from '../../test/support/stores.ts';
import { loadConfig, maskSecrets } from '../config/index.ts';
import { runJob, type RunResult } from '../jobs/index.ts';
import type { Database } from '../store/index.ts';
import { html } from '../web/index.ts';
import { mailConfigSchema, type MailConfig } from './config.ts';
import { defineTemplate, enqueueMail, listDeadLetters, listOutbox, MailRefused, mailSenderJob, retryDeadLetters, retryDelaySeconds, setRecipientLocale } from './index.ts';

const log = pino({ level: 'silent' });

const greeting = defineTemplate<{ name: string; until: string }>('test-greeting', {
  sv: (v) => ({ subject: `Hej ${v.name}`, text: `Hej ${v.name}! Ditt eID gäller till ${v.until}.`, html: html`<p>Hej ${v.name}! Ditt eID gäller till <strong>${v.until}</strong>.</p>` }),
  en: (v) => ({ subject: `Hello ${v.name}`, text: `Hello ${v.name}! Your eID is valid until ${v.until}.`, html: html`<p>Hello ${v.name}! Your eID is valid until <strong>${v.until}</strong>.</p>` }),
});

function smtpConfig(port: number, extra: Record<string, unknown> = {}): MailConfig {
  return mailConfigSchema.parse({ smtp: { host: '127.0.0.1', port, security: 'none', from: 'noreply@region.example', fromName: 'Region Demo eID' }, maxAttempts: 3, retryBaseSeconds: 60, ...extra });
}

describe('mail configuration', () => {
  it('the SMTP password is masked in config print, the rest is shown', () => {
    const config = loadConfig({ env: { TILLIT_MAIL__SMTP__HOST: 'smtp.region.example', TILLIT_MAIL__SMTP__FROM: 'eid@region.example', TILLIT_MAIL__SMTP__USER: 'tillit', TILLIT_MAIL__SMTP__PASSWORD: 'hemligt-lösen' } });
    const masked = JSON.stringify(maskSecrets(config));
    assert.ok(!masked.includes('hemligt-lösen'));
    assert.match(masked, /"password":"\*\*\*"/);
    assert.match(masked, /"host":"smtp\.region\.example"/);
    assert.equal(config.mail.smtp.security, 'starttls', 'STARTTLS, required, by default');
  });

  it('refuses a host without a from address, a user without a password, and a from that is not one address', () => {
    assert.throws(() => mailConfigSchema.parse({ smtp: { host: 'smtp.example' } }), /from is needed when host is set/);
    assert.throws(() => mailConfigSchema.parse({ smtp: { host: 'smtp.example', from: 'a@b.se', user: 'u' } }), /user and password go together/);
    assert.throws(() => mailConfigSchema.parse({ smtp: { from: 'a@b.se, c@d.se' } }), /one e-mail address/);
  });

  it('backs off by doubling from the base, up to the cap', () => {
    const config = { retryBaseSeconds: 60, retryMaxSeconds: 600 };
    assert.deepEqual([1, 2, 3, 4, 5, 40].map((n) => retryDelaySeconds(n, config)), [60, 120, 240, 480, 600, 600]);
  });
});

for (const target of databaseTargets()) {
  describe(`e-mail outbox on ${target.name} through a real SMTP server`, () => {
    let db: Database;
    let clock = new Date('2026-09-01T08:00:00Z');
    const now = () => clock;
    const sinks: SmtpSink[] = [];
    const sink = async (options?: Parameters<typeof startSmtpSink>[0]) => {
      const s = await startSmtpSink(options);
      sinks.push(s);
      return s;
    };
    const send = (config: MailConfig, dryRun = false): Promise<RunResult> => runJob({ db, log, now, node: 'test', leaseMs: 60_000 }, mailSenderJob(config), { trigger: 'manual', dryRun });
    const enqueue = (to: string, values = { name: 'Anna', until: '2026-10-01' }) => db.transaction((tx) => enqueueMail(tx, { to, template: greeting, values, now: clock }));

    before(async () => (db = await target.open()));
    after(async () => {
      for (const s of sinks) await s.close();
      await db?.close();
    });

    it('a message is queued only if the caller’s transaction commits', async () => {
      await assert.rejects(
        db.transaction(async (tx) => {
          await enqueueMail(tx, { to: 'rolled.back@region.example', template: greeting, values: { name: 'X', until: 'Y' }, now: clock });
          throw new Error('the caller failed after queueing');
        }),
        /the caller failed/,
      );
      assert.equal((await listOutbox(db)).filter((m) => m.recipient === 'rolled.back@region.example').length, 0);
    });

    it('refuses a recipient that is not one plain address, and writes nothing', async () => {
      for (const bad of ['a@region.example, evil@attacker.example', 'a@region.example\r\nBcc: evil@attacker.example', '"evil@attacker.example" <a@region.example>', 'a@region.example(comment)@attacker.example', 'nobody']) {
        await assert.rejects(enqueue(bad), MailRefused, bad);
      }
      assert.equal((await listOutbox(db)).length, 0);
    });

    it('delivers in Swedish by default and in English to a recipient who chose it, HTML escaped, subject on one line, from the configured sender', async () => {
      const server = await sink();
      await setRecipientLocale(db, 'Eric.English@Region.example', 'en', clock);
      const hostile = { name: 'Eva <script>alert(1)</script>\r\nBcc: evil@attacker.example', until: '2026-10-01 & "snart"' };
      await enqueue('sara.svensk@region.example', hostile);
      await enqueue('eric.english@region.example', { name: 'Eric', until: '2026-10-01' });
      const result = await send(smtpConfig(server.port));
      assert.equal(result.status, 'succeeded');
      assert.equal(server.received.length, 2);
      const [sv, en] = server.received;
      assert.equal(sv!.subject, 'Hej Eva <script>alert(1)</script> Bcc: evil@attacker.example', 'line breaks in a value do not start a header');
      assert.deepEqual(server.envelopes[0], ['sara.svensk@region.example'], 'no recipient smuggled in');
      assert.equal(sv!.headers.get('bcc'), undefined);
      assert.equal(sv!.from?.value[0]?.address, 'noreply@region.example');
      assert.equal(sv!.from?.value[0]?.name, 'Region Demo eID');
      assert.match(sv!.text!, /^Hej Eva <script>/, 'plain text carries the value as it is');
      assert.ok(sv!.html && !sv!.html.includes('<script>'), 'no markup from a value');
      assert.match(sv!.html as string, /Eva &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert.match(sv!.html as string, /2026-10-01 &amp; &quot;snart&quot;/);
      assert.match(sv!.html as string, /<html lang="sv">/);
      assert.equal(en!.subject, 'Hello Eric');
      assert.match(en!.html as string, /<html lang="en">/);
      const sent = await listOutbox(db, { status: 'sent' });
      assert.equal(sent.length, 2);
      assert.ok(sent.every((m) => m.attempts === 1 && m.sentAt));
      assert.deepEqual(result.status === 'succeeded' && result.summary, { smtpConfigured: true, due: 2, sent: 2, failed: 0, dead: 0, errors: [] });
    });

    it('a server that refuses for a while: the message is kept with its error, retried after the backoff, then delivered', async () => {
      const server = await sink({ refuse: (n) => (n <= 2 ? { code: 451, message: '4.3.0 mailbox busy, try later' } : undefined) });
      const config = smtpConfig(server.port);
      const id = await enqueue('later@region.example');
      await send(config);
      let [message] = (await listOutbox(db)).filter((m) => m.id === id);
      assert.equal(message!.status, 'pending');
      assert.equal(message!.attempts, 1);
      assert.match(message!.lastError!, /451 4\.3\.0 mailbox busy/);
      assert.equal(message!.nextAttemptAt.getTime(), clock.getTime() + 60_000);
      // Not due yet: the next run leaves it alone.
      clock = new Date(clock.getTime() + 59_000);
      const early = await send(config);
      assert.equal(early.status === 'succeeded' && early.summary['due'], 0);
      assert.equal(server.attempts(), 1);
      clock = new Date(clock.getTime() + 1_000);
      await send(config);
      [message] = (await listOutbox(db)).filter((m) => m.id === id);
      assert.equal(message!.attempts, 2);
      assert.equal(message!.nextAttemptAt.getTime(), clock.getTime() + 120_000, 'the wait doubles');
      clock = new Date(clock.getTime() + 120_000);
      await send(config);
      [message] = (await listOutbox(db)).filter((m) => m.id === id);
      assert.equal(message!.status, 'sent');
      assert.equal(message!.attempts, 3);
      assert.equal(server.received.length, 1);
      assert.equal(server.received[0]!.subject, 'Hej Anna');
    });

    it('a server that always refuses: after mail.maxAttempts the message is a dead letter with the error; retried by hand it goes out', async () => {
      const refusing = await sink({ refuse: () => ({ code: 550, message: '5.1.1 no such mailbox' }) });
      const config = smtpConfig(refusing.port);
      const id = await enqueue('gone@region.example');
      for (let attempt = 1; attempt <= 3; attempt++) {
        await send(config);
        clock = new Date(clock.getTime() + 3_600_000);
      }
      assert.equal(refusing.attempts(), 3);
      const [dead] = await listDeadLetters(db);
      assert.equal(dead!.id, id);
      assert.equal(dead!.status, 'dead');
      assert.equal(dead!.attempts, 3);
      assert.match(dead!.lastError!, /550 5\.1\.1 no such mailbox/);
      await send(config);
      assert.equal(refusing.attempts(), 3, 'a dead letter is not tried again by itself');
      assert.deepEqual(await retryDeadLetters(db, [id, 999_999], clock), [id]);
      const accepting = await sink();
      await send(smtpConfig(accepting.port));
      assert.equal(accepting.received.length, 1);
      assert.equal((await listDeadLetters(db)).length, 0);
    });

    it('in one batch a refused message does not hold back the next: each outcome is its own', async () => {
      const server = await sink({ refuse: (n) => (n === 1 ? { code: 550, message: '5.1.1 no such mailbox' } : undefined) });
      const refused = await enqueue('first@region.example');
      const accepted = await enqueue('second@region.example');
      await send(smtpConfig(server.port));
      const outbox = await listOutbox(db);
      assert.equal(outbox.find((m) => m.id === refused)!.status, 'pending');
      assert.match(outbox.find((m) => m.id === refused)!.lastError!, /550/);
      assert.equal(outbox.find((m) => m.id === accepted)!.status, 'sent');
      assert.deepEqual(server.envelopes, [['second@region.example']]);
      clock = new Date(clock.getTime() + 3_600_000);
      await send(smtpConfig(server.port));
      assert.equal((await listOutbox(db)).find((m) => m.id === refused)!.status, 'sent');
    });

    it('without an SMTP server, or in a dry run, nothing is sent and the messages wait', async () => {
      const server = await sink();
      const id = await enqueue('waiting@region.example');
      const unconfigured = await send(mailConfigSchema.parse({}));
      assert.deepEqual(unconfigured.status === 'succeeded' && unconfigured.summary, { smtpConfigured: false, due: 1, sent: 0, failed: 0, dead: 0, errors: [] });
      const dry = await send(smtpConfig(server.port), true);
      assert.equal(dry.status === 'succeeded' && dry.summary['due'], 1);
      assert.equal(server.received.length, 0);
      assert.equal((await listOutbox(db)).find((m) => m.id === id)!.status, 'pending');
      await send(smtpConfig(server.port));
      assert.equal(server.received.length, 1);
    });

    it('an unreachable server counts as a failed attempt with the connection error', async () => {
      const server = await sink();
      const port = server.port;
      await server.close();
      sinks.splice(sinks.indexOf(server), 1);
      const id = await enqueue('unreachable@region.example');
      await send(smtpConfig(port));
      const message = (await listOutbox(db)).find((m) => m.id === id)!;
      assert.equal(message.attempts, 1);
      assert.match(message.lastError!, /ECONNREFUSED/);
    });

    it('STARTTLS (the default) is required: delivered under TLS to a server whose certificate the configured CA vouches for; refused by a server without STARTTLS or with an untrusted certificate', async () => {
      const files = scratch();
      try {
        const made = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', files.path('key.pem'), '-out', files.path('cert.pem')]);
        assert.ok(made.ok, made.output);
        const tls = { key: files.read('key.pem').toString(), cert: files.read('cert.pem').toString() };
        const starttls = (port: number, caFile?: string) =>
          mailConfigSchema.parse({ smtp: { host: '127.0.0.1', port, from: 'noreply@region.example', user: 'tillit', password: 'smtp-lösen', ...(caFile ? { caFile } : {}) }, maxAttempts: 3 });
        const withTls = await sink({ tls, auth: { user: 'tillit', password: 'smtp-lösen' } });
        const plainOnly = await sink({ auth: { user: 'tillit', password: 'smtp-lösen' } });
        const id = await enqueue('tls@region.example');
        const status = async () => (await listOutbox(db)).find((m) => m.id === id)!;

        await send(starttls(plainOnly.port, files.path('cert.pem')));
        assert.equal(plainOnly.received.length, 0, 'no plain-text delivery when the server offers no STARTTLS');
        assert.equal((await status()).status, 'pending');
        clock = new Date(clock.getTime() + 3_600_000);

        await send(starttls(withTls.port));
        assert.equal(withTls.received.length, 0, 'an untrusted certificate is refused');
        assert.match((await status()).lastError!, /certificate/i);
        clock = new Date(clock.getTime() + 3_600_000);

        await send(starttls(withTls.port, files.path('cert.pem')));
        const index = withTls.envelopes.findIndex((to) => to.includes('tls@region.example'));
        assert.ok(index >= 0, 'delivered');
        assert.equal(withTls.secure[index], true, 'under TLS');
        assert.equal((await status()).status, 'sent');
      } finally {
        files.done();
      }
    });
  });
}
