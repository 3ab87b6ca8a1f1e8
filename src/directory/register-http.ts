import { z } from 'zod';
import type { RegisterConfig } from './config.ts';
import { parsePersonnummer } from './identifiers/personnummer.ts';
import { RegisterUnavailableError, type PopulationRegister, type RegisterRecord } from './register.ts';

/**
 * The population register's HTTP JSON service: `GET {url}/persons/{personnummer}`
 * answers 200 with the person or 404 when the register does not know them.
 * Each request has a timeout; timeouts, network errors and 5xx are retried
 * with a doubling delay; anything else stops the run (nothing is written).
 */

const answerSchema = z.object({
  personnummer: z.string(),
  givenName: z.string().min(1),
  surname: z.string().min(1),
  protectedIdentity: z.boolean().default(false),
  deceased: z.boolean().default(false),
  newPersonnummer: z.string().nullable().default(null),
});

export interface HttpRegisterOptions {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly today?: () => Date;
}

export function httpRegister(config: RegisterConfig & { url: string }, options: HttpRegisterOptions = {}): PopulationRegister {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const today = options.today ?? (() => new Date());
  const headers: Record<string, string> = { accept: 'application/json' };
  if (config.apiKey) headers['authorization'] = `Bearer ${config.apiKey}`;

  async function attempt(personnummer: string): Promise<RegisterRecord | null | Retry> {
    let response: Response;
    try {
      response = await fetch(`${config.url}/persons/${encodeURIComponent(personnummer)}`, { headers, signal: AbortSignal.timeout(config.timeoutMs) });
    } catch (error) {
      const why = (error as Error).name === 'TimeoutError' ? `no answer within ${config.timeoutMs} ms` : (error as Error).message;
      return new Retry(why);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      return new Retry(`HTTP ${response.status}`);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new RegisterUnavailableError(`population register at ${config.url} answered HTTP ${response.status} for a lookup; check the URL and API key`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new RegisterUnavailableError(`population register at ${config.url} answered with something that is not JSON`);
    }
    const parsed = answerSchema.safeParse(body);
    if (!parsed.success) throw new RegisterUnavailableError(`population register at ${config.url} answered an unexpected shape: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
    if (parsed.data.personnummer !== personnummer) throw new RegisterUnavailableError(`population register at ${config.url} answered for another person than asked`);
    const newPersonnummer = parsed.data.newPersonnummer === null ? null : parsePersonnummer(parsed.data.newPersonnummer, today()).value;
    return { ...parsed.data, newPersonnummer };
  }

  async function lookupOne(personnummer: string): Promise<RegisterRecord | null> {
    let last = '';
    for (let tries = 0; tries <= config.retries; tries++) {
      if (tries > 0) await sleep(config.retryDelayMs * 2 ** (tries - 1));
      const result = await attempt(personnummer);
      if (!(result instanceof Retry)) return result;
      last = result.reason;
    }
    throw new RegisterUnavailableError(`population register at ${config.url} did not answer after ${config.retries + 1} attempts (last: ${last}); nothing was changed`);
  }

  return {
    async lookup(personnummer) {
      const found = new Map<string, RegisterRecord>();
      const queue = [...personnummer];
      const worker = async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          try {
            const record = await lookupOne(next);
            if (record) found.set(next, record);
          } catch (error) {
            queue.length = 0; // the run fails as a whole; the other workers stop asking
            throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(config.concurrency, queue.length) }, worker));
      return found;
    },
  };
}

class Retry {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}
