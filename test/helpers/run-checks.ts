/**
 * Checks on trained run folders: the valid loss of the model a run saved, and that a run stopped
 * mid-way resumes to the records and weights of one never stopped.
 * @module
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { evaluate } from '../../src/eval/evaluate.js'
import type { BatchInfo } from '../../src/learn/learner.js'
import { logLoss } from '../../src/metrics/metrics.js'
import { type TrainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { readSafetensors } from '../../src/weights/safetensors.js'
import { untimedRecords } from './run-records.js'
import { assertClose } from './torch-reference.js'

/** Mean binary cross-entropy of a run folder's model.safetensors on the store's valid split. */
export async function validLoss(run: string, store: string): Promise<number> {
  const { probabilities, labels } = await evaluate({
    run,
    store,
    split: 'valid',
    tta: false,
    threshold: { kind: 'fixed', value: 0.5 },
    engine: 'libtorch',
  })
  return logLoss(probabilities, labels)
}

/**
 * Stops a run of `configFor(out)` at the batch `at` picks, resumes it, and compares its records
 * and the tensors of `files` with the uninterrupted run in `whole`.
 */
export async function assertResumesExactly(
  whole: string,
  configFor: (out: string) => TrainConfig,
  at: (info: BatchInfo) => boolean,
  files: string[],
): Promise<void> {
  const out = `${whole}-stopped`
  const controller = new AbortController()
  const stopped = await train(configFor(out), {
    signal: controller.signal,
    onBatch: (info) => at(info) && controller.abort(),
  })
  assert.equal(stopped.completed, false)
  assert.ok((await train(configFor(out))).completed)
  assert.deepEqual(untimedRecords(out), untimedRecords(whole))
  for (const file of files) {
    const a = readSafetensors(join(whole, file)).tensors
    const b = readSafetensors(join(out, file)).tensors
    assert.deepEqual([...b.keys()], [...a.keys()], file)
    for (const [name, value] of a)
      assertClose(b.get(name)!, value, { what: `${file} ${name}`, atol: 1e-6, rtol: 1e-5 })
  }
}
