/**
 * `pcam bench memory`: whether memory stays flat while pcam works. Four phases, each run many
 * times after a warm-up: training epochs, validation passes, batch predictions, and requests to
 * the server (its model worker included). For each it records the live native tensors (over all
 * threads) and the resident memory at the start (after the warm-up) and at the end. A leak shows
 * as more live tensors at the end; resident memory that keeps growing, as a higher end figure.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodePng } from '../data/decode.js'
import { PatchLoader } from '../data/loader.js'
import { PatchStore } from '../data/store.js'
import { LibtorchPredictor, predictionPlan, predictStoreWith } from '../eval/predictor.js'
import { precisionCallbacks } from '../learn/callbacks/mixed-precision.js'
import type { ComputeRequest } from '../learn/precision.js'
import { loadRun } from '../run/load-run.js'
import { Learner } from '../learn/learner.js'
import { trainConfig } from '../recipe/train-config.js'
import { train } from '../recipe/train.js'
import type { Architecture } from '../models/registry.js'
import { createServer } from '../serve/server.js'
import { memoryStats, tensor } from '../torch/index.js'

export const MEMORY_PHASES = ['train', 'validate', 'predict', 'serve'] as const
export type MemoryPhase = (typeof MEMORY_PHASES)[number]

export interface MemoryBenchOptions {
  store: string
  arch: Architecture
  /** Training epochs; the first is the warm-up. */
  epochs: number
  /** Passes of the other phases after their warm-up. */
  repeats: number
  batchSize: number
  /** Precision and device of every phase (default: each phase's auto). */
  compute?: ComputeRequest
  onPhase?: (phase: MemoryPhase) => void
}

/** `<phase>_live_tensors_start`, `_end`, `<phase>_rss_start_mb`, `_end_mb` for every phase. */
export type MemoryBenchResult = Record<string, number>

interface Sample {
  live: number
  rssMb: number
}

function sample(): Sample {
  const { liveTensors, rss } = memoryStats()
  return { live: liveTensors, rssMb: rss / 2 ** 20 }
}

/** Runs `step` once to warm up, then `repeats` times between two samples. */
async function measured(repeats: number, step: () => unknown): Promise<[Sample, Sample]> {
  await step()
  const start = sample()
  for (let i = 0; i < repeats; i++) await step()
  return [start, sample()]
}

export async function benchMemory(options: MemoryBenchOptions): Promise<MemoryBenchResult> {
  const result: MemoryBenchResult = {}
  const record = (phase: MemoryPhase, [start, end]: [Sample, Sample]) => {
    result[`${phase}_live_tensors_start`] = start.live
    result[`${phase}_live_tensors_end`] = end.live
    result[`${phase}_rss_start_mb`] = Math.round(start.rssMb)
    result[`${phase}_rss_end_mb`] = Math.round(end.rssMb)
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pcam-bench-memory-'))
  const run = join(scratch, 'run')
  try {
    // train: epochs over the store's training split, sampled at the end of the first (the
    // warm-up) and of the last.
    options.onPhase?.('train')
    const epochEnds: Sample[] = []
    await train(
      trainConfig({
        store: options.store,
        out: run,
        arch: options.arch,
        head: 'linear',
        batchSize: options.batchSize,
        epochs: options.epochs,
        seed: 0,
        augment: { dihedral: true },
        ...options.compute,
      }),
      { onEpoch: () => epochEnds.push(sample()) },
    )
    record('train', [epochEnds[0] as Sample, epochEnds.at(-1) as Sample])

    const { model, config } = loadRun(run)
    const store = PatchStore.open(options.store)
    try {
      const valid = store.indicesOf('valid')
      const plan = predictionPlan(config, options.compute)
      if (plan.device !== 'cpu') model.to(plan.device)
      const loader = (indices: number[]) =>
        new PatchLoader(store, indices, {
          batchSize: options.batchSize,
          shuffle: false,
          dropLast: false,
          seed: 0,
          size: config.inputSize,
          normalization: config.normalization,
          device: plan.device,
        })
      // The Learner needs a training loader; validation never reads it.
      const trainLoader = loader(store.indicesOf('train').slice(0, options.batchSize))
      const validLoader = loader(valid)
      const learn = new Learner(model, trainLoader, validLoader, {
        callbacks: precisionCallbacks(plan),
      })
      try {
        options.onPhase?.('validate')
        record('validate', await measured(options.repeats, () => learn.validate()))
        options.onPhase?.('predict')
        record(
          'predict',
          await measured(options.repeats, () =>
            predictStoreWith(new LibtorchPredictor(model, config, { plan }), store, valid, {
              batchSize: 64,
            }),
          ),
        )
      } finally {
        learn.dispose()
        trainLoader.dispose()
        validLoader.dispose()
      }

      options.onPhase?.('serve')
      const bodies = await Promise.all(
        valid.slice(0, 16).map(async (i) => {
          const index = tensor(BigInt64Array.from([BigInt(i)]))
          const { images, labels } = store.gather(index)
          const png = await encodePng(
            images.data() as Uint8Array,
            store.meta.width,
            store.meta.height,
          )
          for (const t of [index, images, labels]) t.dispose()
          return png
        }),
      )
      const server = await createServer({ run, compute: options.compute })
      try {
        const request = async () => {
          const answers = await Promise.all(
            bodies.map((payload) =>
              server.app.inject({
                method: 'POST',
                url: '/api/predict',
                payload,
                headers: { 'content-type': 'image/png' },
              }),
            ),
          )
          const failed = answers.find((a) => a.statusCode !== 200)
          if (failed) throw new Error(`the server answered ${failed.statusCode}: ${failed.body}`)
        }
        record('serve', await measured(options.repeats, request))
      } finally {
        await server.close()
      }
    } finally {
      model.dispose()
      store.dispose()
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  return result
}
