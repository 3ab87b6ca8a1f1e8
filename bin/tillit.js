#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping): no build step.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`tillit: Node ${process.versions.node} is not supported; run it through npm (npm start, npx tillit), which uses the Node 24 that npm ci installs.`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
