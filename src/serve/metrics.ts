/**
 * The server's numbers for monitoring, in Prometheus' text format at GET /metrics: requests by
 * route and status, a latency histogram, batch sizes, the queue length and the process's memory.
 * @module
 */

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]

class Histogram {
  readonly counts: number[]
  sum = 0
  count = 0
  constructor(readonly buckets: number[]) {
    this.counts = new Array<number>(buckets.length).fill(0)
  }
  observe(value: number): void {
    this.sum += value
    this.count++
    this.buckets.forEach((le, k) => {
      if (value <= le) this.counts[k]!++
    })
  }
  lines(name: string): string[] {
    return [
      ...this.buckets.map((le, k) => `${name}_bucket{le="${le}"} ${this.counts[k]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ]
  }
}

export class ServerMetrics {
  readonly #requests = new Map<string, number>()
  readonly latency = new Histogram(LATENCY_BUCKETS)
  readonly batchSize = new Histogram(BATCH_BUCKETS)
  images = 0

  constructor(private readonly queueLength: () => number) {}

  request(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1)
    if (route.startsWith('/api/')) this.latency.observe(seconds)
  }

  render(): string {
    const lines = [
      '# HELP pcam_requests_total HTTP requests by route and status.',
      '# TYPE pcam_requests_total counter',
      ...[...this.#requests].map(([labels, n]) => `pcam_requests_total{${labels}} ${n}`),
      '# HELP pcam_request_seconds Latency of API requests.',
      '# TYPE pcam_request_seconds histogram',
      ...this.latency.lines('pcam_request_seconds'),
      '# HELP pcam_batch_size Images per model batch.',
      '# TYPE pcam_batch_size histogram',
      ...this.batchSize.lines('pcam_batch_size'),
      '# HELP pcam_images_total Images predicted.',
      '# TYPE pcam_images_total counter',
      `pcam_images_total ${this.images}`,
      '# HELP pcam_queue_length Images waiting for a batch.',
      '# TYPE pcam_queue_length gauge',
      `pcam_queue_length ${this.queueLength()}`,
      '# HELP pcam_resident_memory_bytes Resident set size of the process.',
      '# TYPE pcam_resident_memory_bytes gauge',
      `pcam_resident_memory_bytes ${process.memoryUsage.rss()}`,
    ]
    return `${lines.join('\n')}\n`
  }
}
