// Native memory is released deterministically: dispose(), scope(), and a training loop that does
// not grow.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setImmediate } from 'node:timers/promises'
import * as t from '../../src/torch/index.js'
import { referenceNet } from '../../src/bench/reference-net.js'
import { tempDir } from '../helpers/temp-dir.js'

const live = () => t.memoryStats().liveTensors

describe('memory', () => {
  it('scope() frees what was created inside except the result', () => {
    const before = live()
    const kept = t.scope(() => {
      const a = t.ones([100])
      const b = a.mul(2)
      a.add(b) // garbage
      return { total: b.sum(), parts: [b] }
    })
    assert.equal(live(), before + 2)
    assert.equal(kept.total.item(), 200)
    assert.ok(!kept.parts[0]!.isDisposed)
    kept.total.dispose()
    kept.parts[0]!.dispose()
    assert.equal(live(), before)
  })

  it('nested scopes hand results outwards and free everything on an exception', () => {
    const before = live()
    const outer = t.scope(() => {
      const inner = t.scope(() => t.ones([3]).mul(3))
      assert.ok(!inner.isDisposed)
      return inner.sum()
    })
    assert.equal(outer.item(), 9)
    outer.dispose()
    assert.throws(() =>
      t.scope(() => {
        t.ones([5])
        throw new Error('boom')
      }),
    )
    assert.equal(live(), before)
  })

  it('tensors nobody disposed are collected: V8 is told of their native memory', async () => {
    // 150 tensors of 4 MB dropped without dispose(): the garbage collector only runs for them if
    // it knows what they hold (napi_adjust_external_memory); otherwise all 150 stay alive.
    const before = live()
    for (let i = 0; i < 150; i++) {
      t.zeros([1_000_000])
      await setImmediate()
    }
    const left = live() - before
    assert.ok(left < 75, `${left} of 150 undisposed 4 MB tensors still alive`)
  })

  it('keep() lets a tensor outlive its scope', () => {
    const before = live()
    let saved: t.Tensor | undefined
    t.scope(() => {
      saved = t.keep(t.ones([2]))
    })
    assert.ok(!saved!.isDisposed)
    saved!.dispose()
    assert.equal(live(), before)
  })

  it('a training loop holds a constant number of tensors from step to step', () => {
    const net = referenceNet()
    const x = t.randn([4, 3, 16, 16])
    const y = t.randint(0, 2, [4, 1]).float()
    const optimizer = new t.Adam([...net.parameters()])
    const counts: number[] = []
    for (let step = 0; step < 30; step++) {
      t.scope(() => {
        optimizer.zeroGrad()
        t.bceWithLogits(net.forward(x), y).backward()
        optimizer.step()
      })
      counts.push(live())
    }
    assert.equal(counts[29], counts[2], `live tensors went from ${counts[2]} to ${counts[29]}`)
    optimizer.dispose()
    net.dispose()
  })

  it('mmapFile maps a file as uint8 without reading it into JavaScript, and never writes it', () => {
    const dir = tempDir('mmap')
    const path = join(dir, 'images.u8')
    const bytes = new Uint8Array(2 * 4 * 4 * 3).map((_, i) => i)
    writeFileSync(path, bytes)
    const mapped = t.mmapFile(path)
    assert.deepEqual(mapped.shape, [96])
    const images = mapped.reshape(2, 4, 4, 3)
    const second = images.indexSelect(0, t.tensor([1], { dtype: 'int64' }))
    assert.deepEqual(
      second.toArray(),
      Array.from({ length: 48 }, (_, i) => 48 + i),
    )
    images.select(0, 0).fill_(0) // copy-on-write: the file keeps its bytes
    assert.equal(t.mmapFile(path).toArray()[5], 5)
    assert.throws(
      () => t.mmapFile(join(dir, 'missing.u8')),
      /Cannot memory-map .*missing\.u8: cannot open/,
    )
  })
})
