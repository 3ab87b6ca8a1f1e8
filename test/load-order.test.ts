import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const SRC = new URL('../src/', import.meta.url).pathname;
const modules = (await readdir(SRC, { recursive: true })).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts')).sort();

/** Imports `file` as the first module of a fresh Node process; resolves with what went wrong, or undefined. */
function loadFirst(file: string, compileCache: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(SRC, file)).href)})`], {
      env: { ...process.env, NODE_COMPILE_CACHE: compileCache },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 30_000,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code === 0 ? undefined : `exit ${code ?? signal}:\n${stderr}`));
  });
}

// A module in an import cycle that is loaded first can meet another one half-loaded (a const still in its
// temporal dead zone); which module comes first differs between the CLI, the server and each test, so every one is tried.
describe('every module loads when it is the first one loaded', { concurrency: availableParallelism() + 1 }, () => {
  let compileCache = '';
  before(async () => {
    // The processes share V8's compile cache, so each parses the common modules once, not 200 times.
    compileCache = await mkdtemp(join(tmpdir(), 'tillit-load-order-'));
  });
  after(() => rm(compileCache, { recursive: true, force: true }));

  it('finds the modules', () => assert.ok(modules.length > 100 && modules.includes('cli/main.ts'), `found ${modules.length}`));
  for (const file of modules) {
    it(`src/${file}`, async () => {
      const failure = await loadFirst(file, compileCache);
      assert.equal(failure, undefined, failure);
    });
  }
});
