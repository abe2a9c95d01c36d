// pcam bench memory on a small store: every phase (training epochs, validation passes, batch
// predictions, server requests through the model worker) ends with the live tensors it started
// with. A tensor left undisposed anywhere on those paths shows up here.
import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { benchMemory, MEMORY_PHASES } from '../../src/bench/memory.js'
import { cpuHasBf16Units } from '../../src/learn/precision.js'
import { memoryStats } from '../../src/torch/index.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('bench-memory')
// bf16 is emulated, about 20 times slower, on CPUs without bf16 units.
const bf16Skip = cpuHasBf16Units() ? false : 'this CPU has no bf16 units (avx512_bf16, amx_bf16)'
let store: string

before(async () => {
  store = await makeSyntheticStore(root)
})

/**
 * Runs the benchmark and checks that every phase ends with the live tensors it started with
 * (and has its memory samples), and that nothing outlives it.
 */
async function assertNoLeaks(options: Partial<Parameters<typeof benchMemory>[0]>, what: string) {
  const before = memoryStats().liveTensors
  const result = await benchMemory({
    store,
    arch: 'small',
    epochs: 3,
    repeats: 3,
    batchSize: 16,
    ...options,
  })
  for (const phase of MEMORY_PHASES) {
    const start = result[`${phase}_live_tensors_start`]
    const end = result[`${phase}_live_tensors_end`]
    assert.ok(typeof start === 'number' && start > 0, `${phase}${what}: ${start}`)
    assert.equal(
      end,
      start,
      `${phase}${what}: ${start} live tensors at the start, ${end} at the end`,
    )
    for (const key of [`${phase}_rss_start_mb`, `${phase}_rss_end_mb`])
      assert.ok((result[key] as number) > 0, key)
  }
  assert.equal(memoryStats().liveTensors, before, 'tensors left alive after the benchmark')
}

describe('bench memory', () => {
  it('every phase ends with as many live tensors as it started with, and leaves none', () =>
    assertNoLeaks({}, ''))

  // Mixed precision adds autocast's cached casts and other tensors to every phase.
  it('leaves no tensor behind in bf16 either', { skip: bf16Skip }, () =>
    assertNoLeaks({ epochs: 2, repeats: 2, compute: { precision: 'bf16' } }, ' in bf16'),
  )
})
