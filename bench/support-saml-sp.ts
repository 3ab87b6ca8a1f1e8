// The SAML bench's load generator, in its own process (forked by bench/saml.ts)
// so that the IdP's CPU figure is the IdP's alone: the SPs' side of SSO
// (node-saml AuthnRequests over HTTP-Redirect with the browser's SSO cookie,
// the auto-posting page with the Response read back).
import { Agent, request } from 'node:https';
import { SAML, type SamlConfig } from '@node-saml/node-saml';

/** From the IdP's process: where the IdP is and the browser's SSO cookie. */
export interface SpSetup {
  readonly base: string;
  readonly ca: string;
  readonly cookie: string;
  readonly flows: number;
  readonly concurrency: number;
  /** Requests before each measurement, one at a time: the IdP's code compiled and its caches filled. */
  readonly warmup: number;
}

/** What each request is: an SSO round for the SP `entityId`, or a plain GET of a path on the IdP (the HTTPS floor). */
export type SpTarget = { readonly entityId: string } | { readonly path: string };

export type SpCommand = { readonly type: 'setup'; readonly setup: SpSetup } | { readonly type: 'warm'; readonly target: SpTarget } | { readonly type: 'measure'; readonly target: SpTarget } | { readonly type: 'exit' };

export type SpReport =
  | { readonly type: 'ready' }
  | { readonly type: 'warmed' }
  | { readonly type: 'measured'; readonly seconds: number; readonly latencies: number[]; readonly clientCpuMs: number }
  | { readonly type: 'failed'; readonly message: string };

let setup: SpSetup | undefined;
let agent: Agent | undefined;

const send = (url: string, headers: Record<string, string>) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { headers, agent: agent! }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });

/**
 * `count` rounds of one kind: an SSO round sends a fresh AuthnRequest and reads
 * the auto-posting page with the signed Response; a path round is one GET.
 * The AuthnRequests are made before any is sent, so making them is not
 * counted against the IdP's time on this shared machine.
 */
async function rounds(target: SpTarget, count: number): Promise<(() => Promise<void>)[]> {
  const { base, cookie } = setup!;
  if ('path' in target) {
    const round = async () => {
      const response = await send(`${base}${target.path}`, { cookie });
      if (response.status !== 200) throw new Error(`expected 200 from ${target.path}, got ${response.status}`);
    };
    return Array.from({ length: count }, () => round);
  }
  const { entityId } = target;
  // Unsigned requests (these SPs need not sign): signing here would only cost this process.
  const client = new SAML({ entryPoint: `${base}/saml/sso`, issuer: entityId, callbackUrl: `https://${new URL(entityId).host}/acs`, idpCert: 'unused', identifierFormat: null, authnContext: ['http://id.sambi.se/loa/loa3'] } as SamlConfig);
  const urls: string[] = [];
  for (let i = 0; i < count; i++) urls.push(await client.getAuthorizeUrlAsync('', 'bench', {}));
  return urls.map((url) => async () => {
    const response = await send(url, { cookie, accept: 'text/html' });
    if (response.status !== 200 || !response.body.includes('name="SAMLResponse"')) throw new Error(`expected a Response, got ${response.status} ${response.body.slice(0, 200)}`);
  });
}

async function handle(command: SpCommand): Promise<SpReport | undefined> {
  switch (command.type) {
    case 'setup':
      setup = command.setup;
      agent = new Agent({ keepAlive: true, maxSockets: setup.concurrency * 2, ca: setup.ca });
      return { type: 'ready' };
    case 'warm': {
      for (const round of await rounds(command.target, setup!.warmup)) await round();
      return { type: 'warmed' };
    }
    case 'measure': {
      const queue = await rounds(command.target, setup!.flows);
      const latencies: number[] = [];
      let next = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: setup!.concurrency }, async () => {
          while (next < queue.length) {
            const round = queue[next++]!;
            const t = performance.now();
            await round();
            latencies.push(performance.now() - t);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      return { type: 'measured', seconds, latencies, clientCpuMs: (used.user + used.system) / 1000 / setup!.flows };
    }
    case 'exit':
      agent?.destroy();
      process.disconnect();
      return undefined;
  }
}

process.on('message', (command: SpCommand) => {
  handle(command).then(
    (report) => report && process.send!(report),
    (error: unknown) => process.send!({ type: 'failed', message: (error as Error).message } satisfies SpReport),
  );
});
