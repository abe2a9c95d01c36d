/**
 * Runs one fuzz target in a worker thread, so that the harness in the main thread can stop it
 * when an input hangs (a synchronous loop never returns to a timer) or exhausts its heap.
 * Each input is posted before it is parsed: if the worker dies, the harness knows which one.
 * @module
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import fc from 'fast-check'
import { PcamError } from '../../src/errors.js'
import { mutations } from './mutate.js'
import { TARGETS } from './targets.js'

export interface FuzzJob {
  target: string
  corpus: string
  seconds: number
  seed: number
  /** Resident memory an input may add, in bytes, before it counts as a runaway allocation. */
  rssGrowth: number
}

export type FuzzMessage =
  | { type: 'input'; bytes: Uint8Array }
  | { type: 'done'; runs: number; seeds: number }
  | { type: 'failure'; bytes: Uint8Array; message: string; seed: number }

const job = workerData as FuzzJob
const port = parentPort!
const target = TARGETS[job.target]
if (!target) throw new Error(`no fuzz target ${job.target}`)

const scratch = mkdtempSync(join(tmpdir(), `pcam-fuzz-${job.target}-`))
const path = join(scratch, `input.${target.ext}`)
const corpus = readdirSync(job.corpus, { withFileTypes: true })
  // A finding's .txt says why it was kept; it is not an input.
  .filter((entry) => entry.isFile() && !entry.name.endsWith('.txt'))
  .map((entry) => readFileSync(join(job.corpus, entry.name)))
const seeds = [...(await target.seeds(scratch)), ...corpus]
if (seeds.length === 0) throw new Error(`fuzz target ${job.target} has no seeds`)

const baseline = process.memoryUsage.rss()
let runs = 0
async function check(bytes: Buffer): Promise<void> {
  runs++
  port.postMessage({ type: 'input', bytes } satisfies FuzzMessage)
  writeFileSync(path, bytes)
  try {
    await target!.parse(bytes, path)
  } catch (error) {
    if (!(error instanceof PcamError))
      throw new Error(`not a clean error: ${(error as Error)?.stack ?? String(error)}`)
    if (target!.namesFile && !error.message.includes(path))
      throw new Error(`the error does not name the file: ${error.message}`)
  }
  const grown = process.memoryUsage.rss() - baseline
  if (grown > job.rssGrowth)
    throw new Error(`resident memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`)
}

const details = await fc.check(fc.asyncProperty(mutations(seeds), check), {
  seed: job.seed,
  numRuns: Number.MAX_SAFE_INTEGER,
  interruptAfterTimeLimit: job.seconds * 1000,
  markInterruptAsFailure: false,
  // The corpus (every finding kept) runs first, every time.
  examples: seeds.map((s) => [s] as [Buffer]),
})
rmSync(scratch, { recursive: true, force: true })
if (details.failed && details.counterexample) {
  const message =
    details.errorInstance instanceof Error
      ? details.errorInstance.message
      : String(details.errorInstance)
  port.postMessage({
    type: 'failure',
    bytes: details.counterexample[0],
    message,
    seed: job.seed,
  } satisfies FuzzMessage)
} else {
  port.postMessage({ type: 'done', runs, seeds: seeds.length } satisfies FuzzMessage)
}
