/**
 * A server's operations metrics in the Prometheus text format, through prom-client (the ecosystem's
 * standard, so names, types and escaping are what scrapers expect). prom-client is loaded only for a
 * server that asks for metrics: it costs tens of milliseconds of start-up nobody else should pay.
 * Each server has its own registry, so several servers in one process never share counters; in a
 * cluster worker that registry is the one the primary's AggregatorRegistry collects and sums.
 */
import { ResourceLimitExceeded, Trap } from '../../errors.ts';

type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;

/** Seconds; from a cached hello (well under a millisecond) to the default 10 s deadline. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the metrics read from the server when scraped. */
export interface MetricsSource {
  inFlight(): number;
  maxConcurrency: number;
  instances(): number;
}

let loaded: Promise<PromClient> | undefined;

/** prom-client, loaded once; its cluster listeners are added by the first AggregatorRegistry. */
export function promClient(): Promise<PromClient> {
  loaded ??= import('prom-client').then((m) => ((m as { default?: PromClient }).default ?? m));
  return loaded;
}

export class PrometheusMetrics {
  readonly registry: Registry;
  private readonly guest: string;
  private readonly requests;
  private readonly latency;
  private readonly traps;
  private readonly limits;
  private readonly violations;
  private readonly rejected;

  private constructor(prom: PromClient, guest: string, source: MetricsSource) {
    this.guest = guest;
    const registry = (this.registry = new prom.Registry());
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new prom.Counter({ name, help, labelNames, registers });
    const gauge = (name: string, help: string, read: () => number, aggregator?: 'average') => {
      const labels = { guest };
      new prom.Gauge({
        name, help, labelNames: ['guest'] as const, registers, ...(aggregator && { aggregator }),
        collect() {
          this.set(labels, read());
        },
      });
    };
    this.requests = counter('wasm_sandbox_http_requests_total',
      'HTTP requests answered, by status, guest and outcome (ok, trap, timeout, limit, overloaded, too-large, bad-response, error).', ['status', 'guest', 'outcome']);
    this.latency = new prom.Histogram({
      name: 'wasm_sandbox_http_request_duration_seconds',
      help: 'Time from a request\'s arrival to its last response byte.',
      labelNames: ['guest'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.traps = counter('wasm_sandbox_guest_traps_total', 'Requests whose guest trapped, by trap kind.', ['guest', 'kind']);
    this.limits = counter('wasm_sandbox_limit_hits_total', 'Requests stopped by a resource limit, by limit (timeout for the request deadline).', ['guest', 'limit']);
    this.violations = counter('wasm_sandbox_security_violations_total', 'Operations a guest attempted without the capability, by capability.', ['guest', 'capability']);
    this.rejected = counter('wasm_sandbox_http_saturated_total', 'Requests refused with 503 because the server was handling as many as it may at once.', ['guest']);
    gauge('wasm_sandbox_http_requests_in_flight', 'Requests being handled now.', () => source.inFlight());
    // Across cluster workers a ratio is averaged, not summed.
    gauge('wasm_sandbox_pool_saturation_ratio', 'Requests in flight over the most the server handles at once (1 = further requests get 503).',
      () => source.inFlight() / source.maxConcurrency, 'average');
    gauge('wasm_sandbox_guest_instances', 'Guest instances alive: worker threads holding a component instance, idle reusable instances, or WAGI instances running.',
      () => source.instances());
    // Both start at zero, so a scrape shows the series before the first request.
    this.requests.reset();
    this.latency.zero({ guest });
  }

  static async create(guest: string, source: MetricsSource): Promise<PrometheusMetrics> {
    return new PrometheusMetrics(await promClient(), guest, source);
  }

  /** One answered request; `error` is what the guest failed with, if it did. */
  request(status: number, outcome: string, seconds: number, error: unknown): void {
    const guest = this.guest;
    this.requests.inc({ status: String(status), guest, outcome });
    this.latency.observe({ guest }, seconds);
    if (outcome === 'overloaded') this.rejected.inc({ guest });
    if (error instanceof Trap) this.traps.inc({ guest, kind: error.kind });
    else if (error instanceof ResourceLimitExceeded) this.limits.inc({ guest, limit: error.limit });
    else if (outcome === 'timeout') this.limits.inc({ guest, limit: 'timeout' });
    // Refusals, including one that stopped the guest, arrive through `violation` from the backend.
  }

  violation(capability: string): void {
    this.violations.inc({ guest: this.guest, capability });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
