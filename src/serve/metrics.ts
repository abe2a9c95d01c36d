/**
 * The server's numbers for monitoring, in Prometheus' text format at GET /metrics (prom-client):
 * requests by route and status, a latency histogram, batch sizes, images predicted, the queue
 * length, and prom-client's process metrics (memory, CPU, event-loop lag, handles). Each server
 * has a registry of its own, so that servers in one process (tests, benchmarks) count apart.
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]

export class ServerMetrics {
  readonly registry = new Registry()
  readonly #requests = new Counter({
    name: 'pcam_requests_total',
    help: 'HTTP requests by route and status.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  })
  readonly #latency = new Histogram({
    name: 'pcam_request_seconds',
    help: 'Latency of API requests.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  })
  readonly #batchSize = new Histogram({
    name: 'pcam_batch_size',
    help: 'Images per model batch.',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  })
  readonly #images = new Counter({
    name: 'pcam_images_total',
    help: 'Images predicted.',
    registers: [this.registry],
  })

  constructor(queueLength: () => number) {
    new Gauge({
      name: 'pcam_queue_length',
      help: 'Images waiting for a batch.',
      registers: [this.registry],
      collect() {
        this.set(queueLength())
      },
    })
    collectDefaultMetrics({ register: this.registry })
  }

  request(route: string, status: number, seconds: number): void {
    this.#requests.inc({ route, status: String(status) })
    if (route.startsWith('/api/')) this.#latency.observe(seconds)
  }

  batch(size: number): void {
    this.#batchSize.observe(size)
  }

  predicted(images: number): void {
    this.#images.inc(images)
  }

  render(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
