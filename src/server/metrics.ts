import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** Counts and times every request on `app`, labelled by route pattern (not raw URL, which would explode cardinality). */
  instrument(app: FastifyInstance, server: 'https' | 'http'): void;
}

/** One registry per running system, so tests can start several in one process. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tillit_' });
  const labelNames = ['server', 'method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'tillit_http_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'tillit_http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    registry,
    instrument(app, server) {
      app.addHook('onResponse', async (request, reply) => {
        const labels = { server, method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
        requests.inc(labels);
        duration.observe(labels, reply.elapsedTime / 1000);
      });
    },
  };
}
