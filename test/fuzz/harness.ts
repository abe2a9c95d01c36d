/**
 * Runs a fuzz target for a bounded time (FUZZ_SECONDS, default 4 in `make test`; `npm run fuzz`
 * gives each ten minutes) in a worker, and turns whatever it finds into a file of the corpus:
 * test/fixtures/fuzz-corpus/<target>/finding-<hash>. The corpus runs first on every later run, so a
 * finding stays a regression case after its fix.
 * @module
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FuzzJob, FuzzMessage } from './fuzz-worker.js'

const HERE = dirname(fileURLToPath(import.meta.url))
// Compiled to dist/test/fuzz; the corpus lives beside the sources, in the repository.
const CORPUS = resolve(HERE, '../../../test/fixtures/fuzz-corpus')

/**
 * How long one input may take before it counts as a hang. A clean refusal takes milliseconds;
 * the ceiling is that large so that a loaded 2-core machine never passes it by being slow.
 */
const HANG_MS = 30_000
/** Resident memory one input may add: inputs are kilobytes, so a gigabyte is a runaway. */
const RSS_GROWTH = 1 << 30

export interface FuzzResult {
  runs: number
  seeds: number
}

function keep(target: string, bytes: Uint8Array, why: string): string {
  const dir = join(CORPUS, target)
  mkdirSync(dir, { recursive: true })
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  const file = join(dir, `finding-${hash}`)
  writeFileSync(file, bytes)
  writeFileSync(`${file}.txt`, `${why}\n`)
  return file
}

export function fuzzSeconds(): number {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 4)
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 4
}

/** Fuzzes `target`; rejects with the finding's file when an input breaks the property. */
export function fuzz(target: string, seconds = fuzzSeconds()): Promise<FuzzResult> {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
  const job: FuzzJob = {
    target,
    corpus: join(CORPUS, target),
    seconds,
    seed,
    rssGrowth: RSS_GROWTH,
  }
  mkdirSync(job.corpus, { recursive: true })
  const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), {
    workerData: job,
    resourceLimits: { maxOldGenerationSizeMb: 1024 },
  })
  let last: Uint8Array | null = null
  let lastAt = Date.now()
  let settled = false
  return new Promise<FuzzResult>((done, fail) => {
    const finish = (error: Error | null, result?: FuzzResult) => {
      if (settled) return
      settled = true
      clearInterval(watchdog)
      void worker.terminate()
      if (error) fail(error)
      else done(result as FuzzResult)
    }
    const found = (bytes: Uint8Array | null, why: string) => {
      if (settled) return
      const file = bytes ? keep(target, bytes, why) : '(no input yet)'
      finish(new Error(`fuzz ${target} (seed ${seed}): ${why}\n  input kept as ${file}`))
    }
    const watchdog = setInterval(() => {
      if (Date.now() - lastAt > HANG_MS)
        found(last, `an input ran for more than ${HANG_MS / 1000} s`)
    }, 1000)
    worker.on('message', (message: FuzzMessage) => {
      if (message.type === 'input') {
        last = message.bytes
        lastAt = Date.now()
      } else if (message.type === 'failure') found(message.bytes, message.message)
      else finish(null, { runs: message.runs, seeds: message.seeds })
    })
    worker.on('error', (error) => found(last, `the worker died: ${error.message}`))
    worker.on('exit', (code) => {
      if (code !== 0) found(last, `the worker exited with code ${code}`)
    })
  })
}
