import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call } from '../../../test/support/http.ts';
import { scratch } from '../../../test/support/openssl.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart, type EidHolder } from '../oidc/test-support.ts';
import { addServiceProvider, createSamlPart } from './index.ts';

const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/** Apache with Debian's mod_auth_mellon as a real SP on loopback, logging in through Tillit with the eID app. */
describe('Apache mod_auth_mellon as the SP (PGlite, memory)', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let apache: ChildProcess | undefined;
  let spBase: string;
  const holders: EidHolder[] = [];
  const files = scratch();

  before(async () => {
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
      ['saml', createSamlPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 10 } }, oidc: { encryptionKey: Buffer.alloc(32, 8).toString('base64') }, saml: { keyBits: 2048 } }, parts);

    const spPort = await freePort();
    spBase = `http://127.0.0.1:${spPort}`;
    // mellon's own tool makes its key, certificate and SP metadata.
    const made = spawnSync('/usr/sbin/mellon_create_metadata', [`${spBase}/mellon/metadata`, `${spBase}/mellon`], { cwd: files.dir, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const stem = `${files.dir}/${`${spBase}/mellon/metadata`.replace(/[^A-Za-z0-9.]/g, '_').replace(/^http___/, 'http_')}`;
    const spMetadata = readFileSync(`${stem}.xml`, 'utf8');
    files.file('idp.xml', (await call(`${base}/saml/metadata`, { ca: system.tls.ca })).body);
    mkdirSync(`${files.dir}/www/secret`, { recursive: true });
    files.file('www/secret/index.html', 'secret');
    files.file(
      'httpd.conf',
      `ServerRoot ${files.dir}
Listen 127.0.0.1:${spPort}
ServerName 127.0.0.1
PidFile ${files.dir}/httpd.pid
ErrorLog ${files.dir}/error.log
LogLevel warn auth_mellon:info
${process.getuid?.() === 0 ? 'User nobody\nGroup nogroup\n' : ''}LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_user_module ${MODULES}/mod_authz_user.so
LoadModule auth_mellon_module ${MODULES}/mod_auth_mellon.so
LoadModule headers_module ${MODULES}/mod_headers.so
DocumentRoot ${files.dir}/www
<Location />
  MellonEnable info
  MellonSPPrivateKeyFile ${stem}.key
  MellonSPCertFile ${stem}.cert
  MellonSPMetadataFile ${stem}.xml
  MellonIdPMetadataFile ${files.dir}/idp.xml
  MellonEndpointPath /mellon
  MellonSignatureMethod rsa-sha256
  MellonSecureCookie Off
  MellonSetEnvNoPrefix PNR http://sambi.se/attributes/1/personalIdentityNumber
  MellonSetEnvNoPrefix LOA urn:sambi:names:attribute:levelOfAssurance
</Location>
<Location /secret>
  AuthType Mellon
  MellonEnable auth
  Require valid-user
  Header set X-Personal-Identity-Number "%{PNR}e"
  Header set X-Loa "%{LOA}e"
</Location>
`,
    );
    // Run as root (a CI container), Apache's workers are nobody: they must read the pages.
    for (const entry of ['', ...readdirSync(files.dir, { recursive: true }).map(String)]) chmodSync(`${files.dir}/${entry}`, entry.endsWith('.key') ? 0o644 : entry.includes('.') ? 0o644 : 0o755);
    await addServiceProvider(context.db, { metadataXml: spMetadata, metadataSource: 'mellon_create_metadata', displayName: 'Apache mellon', attributes: ['personalIdentityNumber', 'given_name'], methods: ['oob-other'] }, new Date());
    apache = spawn(APACHE, ['-f', `${files.dir}/httpd.conf`, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MELLON_DISABLE_SAMESITE: '1' } });
    let apacheErrors = '';
    apache.stderr!.on('data', (d: Buffer) => (apacheErrors += d));
    for (let i = 0; i < 100 && !(await listening(spPort)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await listening(spPort), `apache listens: ${existsSync(`${files.dir}/error.log`) ? readFileSync(`${files.dir}/error.log`, 'utf8').slice(-1500) : apacheErrors}`);
  });
  after(async () => {
    apache?.kill('SIGTERM');
    await system?.stop();
    files.done();
  });

  it('mellon sends a signed AuthnRequest, the person logs in with the eID app, mellon accepts the encrypted signed assertion and passes the attributes on', async () => {
    const [row] = await context.db.query<{ personnummer: string }>('select personnummer from directory_person order by personnummer limit 1');
    const holder = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    // A browser: one cookie jar per origin.
    const jars = new Map<string, Map<string, string>>();
    const send = async (url: string, options: { method?: string; body?: string; accept?: string } = {}) => {
      const origin = new URL(url).origin;
      const jar = jars.get(origin) ?? new Map<string, string>();
      jars.set(origin, jar);
      const headers: Record<string, string> = { accept: options.accept ?? 'text/html', cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
      if (options.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const answer = await call(url, { method: options.method ?? 'GET', headers, ca: system.tls.ca, ...(options.body !== undefined ? { body: options.body } : {}) });
      for (const line of [answer.headers['set-cookie'] ?? []].flat()) {
        const [name, ...value] = line.split(';')[0]!.split('=');
        jar.set(name!.trim(), value.join('='));
      }
      return answer;
    };
    const follow = async (url: string, first: { method?: string; body?: string } = {}) => {
      let location = url;
      let answer = await send(url, first);
      for (let hops = 0; answer.status >= 300 && answer.status < 400 && hops < 20; hops++) {
        location = new URL(answer.headers.location!, location).href;
        answer = await send(location);
      }
      return { location, answer };
    };

    const landed = await follow(`${spBase}/secret/index.html`);
    assert.match(landed.location, /\/saml\/login\/[^/]+\/wait$/, `mellon's request was accepted: ${landed.answer.body.slice(0, 300)}`);
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${new URL(landed.location).pathname.split('/')[3]}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const server = { baseUrl: new URL(landed.location).origin, ca: system.tls.ca };
    const challenge = (await postJson(server, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const status = JSON.parse((await send(landed.location.replace(/\/wait$/, '/status'), { accept: 'application/json' })).body) as { next: string };
    const page = await follow(new URL(status.next, landed.location).href);
    const action = /<form id="saml-post" method="post" action="([^"]+)"/.exec(page.answer.body)?.[1];
    assert.equal(action, `${spBase}/mellon/postResponse`);
    const fields = [...page.answer.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => `${m[1]}=${encodeURIComponent(m[2]!.replace(/&amp;/g, '&'))}`).join('&');
    const response = Buffer.from(decodeURIComponent(/SAMLResponse=([^&]+)/.exec(fields)![1]!), 'base64').toString('utf8');
    assert.match(response, /<saml:EncryptedAssertion>/, 'mellon’s metadata has an encryption key: the assertion is encrypted');
    const secret = await follow(action!, { method: 'POST', body: fields });
    assert.equal(secret.answer.status, 200, `mellon accepted the response: ${secret.answer.body.slice(0, 300)} ${readFileSync(`${files.dir}/error.log`, 'utf8').slice(-1500)}`);
    assert.equal(secret.answer.body, 'secret');
    assert.equal(secret.answer.headers['x-personal-identity-number'], row!.personnummer);
    assert.equal(secret.answer.headers['x-loa'], 'http://id.sambi.se/loa/loa3');
  });
});
