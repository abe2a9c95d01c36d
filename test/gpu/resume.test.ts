// Resuming a CUDA run: the GPU generator's state round-trips, a checkpoint of a CUDA run keeps it
// beside the CPU's, and a run stopped mid-epoch resumes to the weights and records of an
// uninterrupted run. cuDNN's atomics (and its per-run choice of algorithms) make two uninterrupted
// GPU runs differ in their last bits, so the resumed run must fall within that spread; a resume
// that lost its place (another data order, fresh dropout masks, the schedule restarted) is orders
// of magnitude further off.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import * as t from '../../src/torch/index.js'
import { readSafetensors } from '../../src/weights/safetensors.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

const {
  request: REQUEST,
  device,
  skip,
} = deviceUnderTest('these check the GPU generator; make test-gpu runs them on a GPU')

const root = tempDir('gpu-resume')
const store = join(root, 'store')

/**
 * The small CNN with fastai's head (dropout on the GPU), in the GPU's automatic precision, with
 * an EMA of the weights (state that a resume restores).
 */
const config = (out: string): TrainConfig =>
  trainConfig({
    store,
    out,
    device,
    head: 'concat',
    batchSize: 16,
    freezeEpochs: 0,
    epochs: 2,
    lr: 3e-3,
    seed: 11,
    augment: { dihedral: true, brightness: 0.1 },
    ema: 0.99,
  })

/** The largest difference between two runs' final weights. */
function weightDistance(a: string, b: string): number {
  const x = readSafetensors(join(a, 'last.safetensors')).tensors
  const y = readSafetensors(join(b, 'last.safetensors')).tensors
  assert.deepEqual([...x.keys()], [...y.keys()])
  let worst = 0
  for (const [name, value] of x) {
    const other = y.get(name)!.data()
    value
      .data()
      .forEach((v, i) => (worst = Math.max(worst, Math.abs(Number(v) - Number(other[i])))))
  }
  return worst
}

const losses = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).validLoss as number)

describe(`resuming on ${REQUEST}`, { skip }, () => {
  before(async () => {
    if (!skip) await makeSyntheticStore(root, { train: 320, valid: 32 })
  })

  it("the GPU generator's state round-trips: the draws after a restore repeat", () => {
    t.manualSeed(3)
    const state = t.getRngState(device)
    const first = t.rand([6], { device })
    t.setRngState(state, device)
    const again = t.rand([6], { device })
    assert.deepEqual(again.to('cpu').toArray(), first.to('cpu').toArray())
    const other = t.rand([6], { device })
    assert.notDeepEqual(other.to('cpu').toArray(), first.to('cpu').toArray())
    for (const x of [state, first, again, other]) x.dispose()
  })

  it('a run stopped mid-epoch resumes within the spread of two uninterrupted runs', async () => {
    const whole = join(root, 'whole')
    const twin = join(root, 'twin')
    assert.ok((await train(config(whole))).completed)
    assert.ok((await train(config(twin))).completed)

    const out = join(root, 'stopped')
    let batches = 0
    const stopped = await train(config(out), {
      onBatch: () => void batches++,
      stopRequested: () => batches === 7,
    })
    assert.equal(stopped.completed, false)
    const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8'))
    assert.equal(state.position.epoch, 0)
    assert.equal(typeof state.cudaRngState, 'string', 'the GPU generator state is checkpointed')
    const resumed = await train(config(out))
    assert.ok(resumed.completed)

    const spread = weightDistance(whole, twin)
    const offBy = weightDistance(whole, out)
    console.log(`# max weight difference: twin runs ${spread}, resumed run ${offBy}`)
    assert.ok(offBy <= Math.max(10 * spread, 1e-5), `resumed ${offBy} vs run-to-run ${spread}`)
    const [a, b] = [losses(whole), losses(out)]
    assert.equal(b.length, a.length)
    a.forEach((loss, i) =>
      assert.ok(
        Math.abs(loss - b[i]!) <= Math.max(10 * spread, 1e-4),
        `epoch ${i}: ${loss} vs ${b[i]}`,
      ),
    )
  })
})
