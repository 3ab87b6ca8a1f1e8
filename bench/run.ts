// `npm run bench -- NAME [NAME…]` runs bench/NAME.ts; without a name it lists them.
import { readdir } from 'node:fs/promises';

const dir = new URL('./', import.meta.url);
const available = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('support')).map((f) => f.slice(0, -3)).sort();
const wanted = process.argv.slice(2);

if (wanted.length === 0) {
  console.log(`usage: npm run bench -- <name> [<name> …]\navailable: ${available.join(', ')}`);
} else {
  const unknown = wanted.filter((name) => !available.includes(name));
  if (unknown.length) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')} (available: ${available.join(', ')})`);
    process.exitCode = 2;
  } else {
    for (const name of wanted) await import(new URL(`./${name}.ts`, dir).href);
  }
}
