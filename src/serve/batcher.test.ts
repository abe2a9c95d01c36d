import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DynamicBatcher, QueueFullError } from './batcher.js'

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('DynamicBatcher', () => {
  it('batches what arrives within the wait, in order, one output per input', async () => {
    const batches: number[][] = []
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 8,
      maxWaitMs: 20,
      maxQueue: 100,
      run: async (items) => {
        batches.push(items)
        return items.map((x) => x * 10)
      },
    })
    const outputs = await Promise.all([1, 2, 3].map((x) => batcher.submit(x)))
    assert.deepEqual(outputs, [10, 20, 30])
    assert.deepEqual(batches, [[1, 2, 3]])
  })

  it('starts at once when a full batch waits, and queues the rest for the next', async () => {
    const batches: number[][] = []
    let release: () => void = () => undefined
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 2,
      maxWaitMs: 10_000,
      maxQueue: 100,
      run: async (items) => {
        batches.push(items)
        await new Promise<void>((resolve) => (release = resolve))
        return items
      },
    })
    const all = [1, 2, 3, 4, 5].map((x) => batcher.submit(x))
    await tick(5)
    assert.deepEqual(batches, [[1, 2]], 'the first pair runs without waiting 10 s')
    assert.equal(batcher.queueLength, 3)
    release()
    await tick(5)
    assert.deepEqual(batches.at(-1), [3, 4])
    release()
    await tick(5)
    release()
    assert.deepEqual(await Promise.all(all), [1, 2, 3, 4, 5])
    assert.deepEqual(batches, [[1, 2], [3, 4], [5]])
  })

  it('refuses beyond the queue bound, and a failed batch rejects only its own items', async () => {
    let fail = true
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 2,
      maxWaitMs: 5,
      maxQueue: 2,
      run: async (items) => {
        await tick(10)
        if (fail) throw new Error('model failed')
        return items
      },
    })
    const first = [batcher.submit(1), batcher.submit(2)] // run at once (full batch)
    await tick(1)
    const second = [batcher.submit(3), batcher.submit(4)] // wait for the running batch
    assert.throws(() => batcher.submit(5), QueueFullError)
    const firstResults = await Promise.allSettled(first)
    fail = false
    assert.ok(firstResults.every((r) => r.status === 'rejected'))
    assert.deepEqual(await Promise.all(second), [3, 4])
    await batcher.drain()
    assert.equal(batcher.busy, false)
  })

  it('submitAll admits all the items of a request or none of them', async () => {
    const batcher = new DynamicBatcher<number, number>({
      maxBatch: 8,
      maxWaitMs: 50,
      maxQueue: 8,
      run: async (items) => items.map((x) => -x),
    })
    const admitted = batcher.submitAll([1, 2, 3, 4, 5])
    assert.throws(() => batcher.submitAll([6, 7, 8, 9]), QueueFullError)
    assert.equal(batcher.queueLength, 5)
    assert.deepEqual(await Promise.all(admitted), [-1, -2, -3, -4, -5])
    assert.deepEqual(await Promise.all(batcher.submitAll([6, 7, 8, 9])), [-6, -7, -8, -9])
  })
})
