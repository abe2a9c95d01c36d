// SharedReads: one read per key however many ask, the bytes in flight bounded (others wait), and
// a 503 once too many wait. Reads are controlled promises: nothing here depends on timing.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BusyError } from './http-errors.js'
import { SharedReads } from './shared-reads.js'

function gate() {
  let open = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { open, opened }
}

describe('SharedReads', () => {
  it('runs one read per key and shares its result', async () => {
    const reads = new SharedReads<string>(100, 10)
    let calls = 0
    const g = gate()
    const read = async () => {
      calls++
      await g.opened
      return 'tile'
    }
    const all = Array.from({ length: 20 }, () => reads.read('k', 10, read))
    g.open()
    assert.deepEqual(new Set(await Promise.all(all)), new Set(['tile']))
    assert.equal(calls, 1)
    assert.equal(reads.pending, 0)
    // Done and forgotten: a later request reads again (the caller caches).
    await reads.read('k', 10, read)
    assert.equal(calls, 2)
  })

  it('keeps the bytes in flight under its bound, lets the rest wait, refuses past maxWaiting', async () => {
    const reads = new SharedReads<number>(100, 2)
    const gates = [gate(), gate(), gate(), gate()]
    let peak = 0
    const read = (k: number) => async () => {
      peak = Math.max(peak, reads.bytesInFlight)
      await gates[k]!.opened
      return k
    }
    const first = reads.read('0', 60, read(0))
    const second = reads.read('1', 60, read(1)) // waits: 120 > 100
    const third = reads.read('2', 30, read(2)) // waits behind the second (first in, first out)
    await assert.rejects(reads.read('3', 10, read(3)), BusyError)
    assert.equal(reads.bytesInFlight, 60)
    gates[0]!.open()
    assert.equal(await first, 0)
    gates[1]!.open()
    gates[2]!.open()
    assert.deepEqual(await Promise.all([second, third]), [1, 2])
    assert.ok(peak <= 100, `peak ${peak}`)
    assert.equal(reads.bytesInFlight, 0)
  })
})
