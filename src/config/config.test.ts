import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, maskSecrets } from './index.ts';

const made: string[] = [];
after(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

async function configFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tillit-config-'));
  made.push(dir);
  const file = join(dir, 'tillit.json');
  await writeFile(file, content);
  return file;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('gives working defaults with nothing set', () => {
    const config = loadConfig();
    assert.equal(config.server.httpsPort, 8443);
    assert.equal(config.server.httpPort, 8080);
    assert.equal(config.server.publicBaseUrl, 'https://localhost:8443');
    assert.equal(config.dataDir, resolve('./data'));
    assert.equal(config.database.url, undefined);
    assert.equal(config.redis.url, undefined);
    assert.deepEqual(config.parts, []);
  });

  it('layers file < environment < overrides', async () => {
    const file = await configFile(JSON.stringify({ server: { httpsPort: 9443, httpPort: 9080 }, log: { level: 'warn' } }));
    const config = loadConfig({ file, env: { TILLIT_SERVER__HTTP_PORT: '7080', TILLIT_LOG__LEVEL: 'debug' }, overrides: { log: { level: 'error' } } });
    assert.equal(config.server.httpsPort, 9443);
    assert.equal(config.server.httpPort, 7080);
    assert.equal(config.log.level, 'error');
  });

  it('maps TILLIT_* names to nested camelCase keys and reads DATABASE_URL and REDIS_URL', () => {
    const config = loadConfig({
      env: {
        TILLIT_DATA_DIR: '/var/lib/tillit',
        TILLIT_SERVER__PUBLIC_BASE_URL: 'https://idp.region.example/',
        TILLIT_SERVER__TRUST_PROXY: 'true',
        TILLIT_PARTS: 'pki, directory',
        DATABASE_URL: 'postgres://tillit@db/tillit',
        REDIS_URL: 'redis://cache:6379',
        TILLIT_CONFIG: '/ignored/here',
        UNRELATED: 'x',
      },
    });
    assert.equal(config.dataDir, '/var/lib/tillit');
    assert.equal(config.server.publicBaseUrl, 'https://idp.region.example');
    assert.equal(config.server.trustProxy, true);
    assert.deepEqual(config.parts, ['pki', 'directory']);
    assert.equal(config.database.url, 'postgres://tillit@db/tillit');
    assert.equal(config.redis.url, 'redis://cache:6379');
  });

  it('waits 30 s for a PostgreSQL connection unless told otherwise, and refuses no wait or nonsense', () => {
    assert.equal(loadConfig().database.connectionTimeoutMs, 30_000);
    assert.equal(loadConfig({ env: { TILLIT_DATABASE__CONNECTION_TIMEOUT_MS: '60000' } }).database.connectionTimeoutMs, 60_000);
    for (const bad of ['0', '-5', '1.5', 'soon', '600001']) {
      assert.match(refusal(() => loadConfig({ env: { TILLIT_DATABASE__CONNECTION_TIMEOUT_MS: bad } })), /^invalid configuration: database\.connectionTimeoutMs \(from TILLIT_DATABASE__CONNECTION_TIMEOUT_MS\): /, bad);
    }
  });

  it('names the key, where it came from and what is wrong', async () => {
    assert.equal(
      refusal(() => loadConfig({ env: { TILLIT_SERVER__HTTPS_PORT: '70000' } })),
      'invalid configuration: server.httpsPort (from TILLIT_SERVER__HTTPS_PORT): expected a port number (0–65535)',
    );
    const file = await configFile(JSON.stringify({ server: { publicBaseUrl: 'ftp://x' } }));
    assert.match(refusal(() => loadConfig({ file })), new RegExp(`^invalid configuration: server\\.publicBaseUrl \\(in ${file}\\): expected an http\\(s\\) URL$`));
    assert.match(refusal(() => loadConfig({ env: { TILLIT_SERVER__TRUST_PROXY: 'yes' } })), /server\.trustProxy \(from TILLIT_SERVER__TRUST_PROXY\)/);
    assert.match(refusal(() => loadConfig({ env: { DATABASE_URL: 'mysql://x' } })), /database\.url \(from DATABASE_URL\): expected a postgres:\/\/ URL/);
    assert.match(refusal(() => loadConfig({ overrides: { server: { tls: { certFile: 'a.pem' } } } })), /server\.tls: certFile and keyFile go together/);
  });

  it('refuses unknown settings instead of ignoring a typo', async () => {
    assert.equal(refusal(() => loadConfig({ env: { TILLIT_SERVER__HTTPS_PROT: '1' } })), 'invalid configuration: server.httpsProt (from TILLIT_SERVER__HTTPS_PROT): is not a known setting');
    const file = await configFile(JSON.stringify({ databse: { url: 'postgres://x' } }));
    assert.match(refusal(() => loadConfig({ file })), /databse \(in .*\): is not a known setting/);
  });

  it('refuses a malformed, missing or non-object config file with its name', async () => {
    const broken = await configFile('{"server": {');
    assert.match(refusal(() => loadConfig({ file: broken })), new RegExp(`^config file ${broken} is not valid JSON: `));
    assert.equal(refusal(() => loadConfig({ file: '/no/such/tillit.json' })), 'config file /no/such/tillit.json cannot be read: ENOENT');
    const list = await configFile('[1, 2]');
    assert.equal(refusal(() => loadConfig({ file: list })), `config file ${list} must hold a JSON object`);
  });
});

describe('maskSecrets', () => {
  it('hides passwords in URLs and leaves the rest readable', () => {
    const config = loadConfig({ env: { DATABASE_URL: 'postgres://tillit:s3cret@db:5432/tillit', REDIS_URL: 'redis://:hunter2@cache:6379/0' } });
    const masked = maskSecrets(config) as typeof config;
    assert.equal(masked.database.url, 'postgres://tillit:***@db:5432/tillit');
    assert.equal(masked.redis.url, 'redis://:***@cache:6379/0');
    assert.equal(masked.server.httpsPort, 8443);
    assert.doesNotMatch(JSON.stringify(masked), /s3cret|hunter2/);
  });
});
