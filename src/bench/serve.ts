/**
 * `pcam bench serve`: a load generator on loopback against `pcam serve` running in its own
 * process (so the generator does not share the server's event loop). For each number of
 * concurrent clients it sends real patches as PNG bodies, bounded in count and time, and records
 * throughput, latency percentiles and failures; the server's memory comes from its /metrics. It
 * runs once with dynamic batching and once with batches of one, to measure what batching gains.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { encodePng } from '../data/decode.js'
import { PatchStore } from '../data/store.js'
import { DataError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'
import type { Engine } from '../eval/predictor.js'
import type { ComputeRequest } from '../learn/precision.js'

export interface LoadLevel {
  clients: number
  requests: number
  failed: number
  seconds: number
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  /** Mean images per model batch on the server over this level. */
  meanBatch: number
  /** The server's resident memory after this level. */
  serverRssMiB: number
}

export interface ServeBenchResult {
  mode: 'dynamic batching' | 'batch size 1'
  maxBatch: number
  levels: LoadLevel[]
}

export interface ServeBenchOptions {
  run: string
  store: string
  clients: number[]
  /** Requests per level (fewer if the time limit comes first). */
  requests: number
  secondsPerLevel: number
  maxBatch: number
  maxWaitMs: number
  /** The server's precision, device and engine (`pcam serve`'s options; default: its own). */
  compute?: ComputeRequest
  engine?: Engine
  onLevel?: (mode: string, level: LoadLevel) => void
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

/** Starts `pcam serve` on a free port; resolves with its address once it listens. */
function startServer(
  options: ServeBenchOptions,
  maxBatch: number,
): Promise<{ child: ChildProcess; address: string }> {
  const { precision, device } = options.compute ?? {}
  const asked: [string, string | undefined][] = [
    ['--precision', precision],
    ['--device', device],
    ['--engine', options.engine],
  ]
  const child = spawn(
    process.execPath,
    [
      join(PACKAGE_ROOT, 'bin', 'pcam.js'),
      'serve',
      '--model',
      options.run,
      '--port',
      '0',
      '--max-batch',
      String(maxBatch),
      '--max-wait-ms',
      String(options.maxWaitMs),
      '--max-queue',
      '4096',
      ...asked.flatMap(([flag, value]) => (value === undefined ? [] : [flag, value])),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /at (http:\/\/\S+)/.exec(output)
      if (match) resolve({ child, address: match[1] as string })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('exit', (code) =>
      reject(new DataError(`pcam serve exited (code ${code}) before listening: ${output.trim()}`)),
    )
  })
}

async function serverStats(
  address: string,
): Promise<{ rss: number; batches: number; images: number }> {
  const text = await (await fetch(`${address}/metrics`)).text()
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  return {
    rss: value('process_resident_memory_bytes'),
    batches: value('pcam_batch_size_count'),
    images: value('pcam_batch_size_sum'),
  }
}

async function runLevel(
  address: string,
  bodies: Buffer[],
  clients: number,
  requests: number,
  seconds: number,
): Promise<Omit<LoadLevel, 'meanBatch' | 'serverRssMiB'>> {
  const latencies: number[] = []
  let failed = 0
  let sent = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  const client = async () => {
    while (sent < requests && performance.now() < deadline) {
      const body = bodies[sent++ % bodies.length] as Buffer
      const t = performance.now()
      try {
        const response = await fetch(`${address}/api/predict`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'image/png' },
        })
        await response.arrayBuffer()
        if (response.ok) latencies.push(performance.now() - t)
        else failed++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client))
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    clients,
    requests: latencies.length + failed,
    failed,
    seconds: elapsed,
    requestsPerSec: latencies.length / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  }
}

/** Real patches from the store, encoded as PNG request bodies. */
async function requestBodies(storePath: string, count: number): Promise<Buffer[]> {
  const store = PatchStore.open(storePath)
  try {
    const { height, width } = store.meta
    const bodies: Buffer[] = []
    for (let i = 0; i < Math.min(count, store.count); i++)
      bodies.push(await encodePng(store.image(i), width, height))
    return bodies
  } finally {
    store.dispose()
  }
}

export async function benchServe(options: ServeBenchOptions): Promise<ServeBenchResult[]> {
  const bodies = await requestBodies(options.store, 64)
  const results: ServeBenchResult[] = []
  for (const [mode, maxBatch] of [
    ['dynamic batching', options.maxBatch],
    ['batch size 1', 1],
  ] as const) {
    const { child, address } = await startServer(options, maxBatch)
    // If this process ends early (an error, a closed pipe), the server must not outlive it.
    const stopServer = () => child.kill('SIGKILL')
    process.once('exit', stopServer)
    try {
      await runLevel(address, bodies, 4, 32, 10) // warm-up
      const levels: LoadLevel[] = []
      for (const clients of options.clients) {
        const before = await serverStats(address)
        const level = await runLevel(
          address,
          bodies,
          clients,
          options.requests,
          options.secondsPerLevel,
        )
        const after = await serverStats(address)
        const full: LoadLevel = {
          ...level,
          meanBatch: (after.images - before.images) / Math.max(1, after.batches - before.batches),
          serverRssMiB: after.rss / 1024 / 1024,
        }
        levels.push(full)
        options.onLevel?.(mode, full)
      }
      results.push({ mode, maxBatch, levels })
    } finally {
      process.off('exit', stopServer)
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  return results
}
