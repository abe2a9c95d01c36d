// Augmentation on known pixels (each transform moves a pixel where it should), and seeded
// reproducibility of augmented batches and of the loader.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  dihedral,
  prepareBatch,
  randomCrop,
  randomDihedral,
  reflectPad,
  stainJitter,
} from '../../src/data/augment.js'
import { encodePng } from '../../src/data/decode.js'
import { PatchLoader } from '../../src/data/loader.js'
import { prepareStore } from '../../src/data/prepare.js'
import { PatchStore } from '../../src/data/store.js'
import * as t from '../../src/torch/index.js'
import { tempDir } from '../helpers/temp-dir.js'

/** N x 4 x 4 x 1 batch, zero except a 1 at (row, col) of every patch. */
function dot(row: number, col: number, n = 1): t.Tensor {
  const data = new Uint8Array(n * 16)
  for (let i = 0; i < n; i++) data[i * 16 + row * 4 + col] = 1
  return t.tensor(data, { shape: [n, 4, 4, 1] })
}
const where = (x: t.Tensor) => {
  const i = x.toArray().indexOf(1)
  return [Math.floor(i / 4) % 4, i % 4]
}
const IDENTITY = { mean: [0, 0, 0], std: [1, 1, 1] }

describe('augmentation', () => {
  it('dihedral k=1 turns a quarter counter-clockwise, k=4 mirrors left-right', () => {
    assert.deepEqual(where(dihedral(dot(0, 1), 0)), [0, 1])
    assert.deepEqual(where(dihedral(dot(0, 1), 1)), [2, 0]) // new[i][j] = old[j][3 - i]
    assert.deepEqual(where(dihedral(dot(0, 1), 2)), [3, 2])
    assert.deepEqual(where(dihedral(dot(0, 1), 4)), [0, 2])
    assert.deepEqual(where(dihedral(dot(0, 1), 5)), [1, 0])
  })

  it('the 8 symmetries move a generic pixel to 8 different places', () => {
    const places = new Set(
      Array.from({ length: 8 }, (_, k) => where(dihedral(dot(0, 1), k)).join(',')),
    )
    assert.equal(places.size, 8)
  })

  it('randomDihedral applies one symmetry per patch, all 8 occur, and a seed repeats it', () => {
    const batch = dot(0, 1, 200)
    const a = randomDihedral(batch, new t.Generator(5))
    const b = randomDihedral(batch, new t.Generator(5))
    assert.deepEqual(a.toArray(), b.toArray())
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) seen.add(where(a.select(0, i)).join(','))
    assert.equal(seen.size, 8)
    assert.equal(a.sum().item(), 200)
  })

  it('reflectPad mirrors without repeating the edge', () => {
    const row = t.tensor(new Uint8Array([1, 2, 3]), { shape: [1, 1, 3, 1] })
    assert.deepEqual(
      reflectPad(row.expand(1, 3, 3, 1).contiguous(), 1)
        .select(1, 0)
        .toArray(),
      [2, 1, 2, 3, 2],
    )
  })

  it('randomCrop shifts by at most the padding and keeps the size', () => {
    const shifted = randomCrop(dot(1, 2, 50), 1, new t.Generator(1))
    assert.deepEqual(shifted.shape, [50, 4, 4, 1])
    for (let i = 0; i < 50; i++) {
      const [r, c] = where(shifted.select(0, i))
      assert.ok(Math.abs(r! - 1) <= 1 && Math.abs(c! - 2) <= 1, `patch ${i} moved to ${r},${c}`)
    }
  })

  it('prepareBatch shifts patches when cropPadding is asked for (the light preset)', () => {
    // A bright 2 x 2 square in the middle of black 16 x 16 patches: where it lands is the shift.
    const data = new Uint8Array(40 * 16 * 16 * 3)
    for (let i = 0; i < 40; i++)
      for (const [r, c] of [
        [7, 7],
        [7, 8],
        [8, 7],
        [8, 8],
      ] as const)
        data.fill(255, ((i * 16 + r) * 16 + c) * 3, ((i * 16 + r) * 16 + c) * 3 + 3)
    const images = t.tensor(data, { shape: [40, 16, 16, 3] })
    const x = prepareBatch(images, {
      size: 16,
      normalization: IDENTITY,
      augment: { cropPadding: 3 },
      generator: new t.Generator(4),
    })
    const offsets = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const flat = x.select(0, i).select(0, 0).contiguous().toArray()
      const first = flat.findIndex((v) => v > 0.5)
      const [row, col] = [Math.floor(first / 16) - 7, (first % 16) - 7]
      assert.ok(Math.abs(row) <= 3 && Math.abs(col) <= 3, `patch ${i} moved by ${row},${col}`)
      offsets.add(`${row},${col}`)
    }
    assert.ok(offsets.size > 10, `only ${offsets.size} distinct shifts`)
  })

  it('prepareBatch: uint8 NHWC in, normalised float NCHW channels-last out, resized on request', () => {
    const images = t.full([2, 8, 8, 3], 51, { dtype: 'uint8' })
    const x = prepareBatch(images, {
      size: 8,
      normalization: { mean: [0.2, 0.2, 0.2], std: [0.5, 0.5, 0.5] },
    })
    assert.deepEqual(x.shape, [2, 3, 8, 8])
    assert.ok(x.isContiguous('channelsLast'))
    assert.ok(x.abs().max().item() < 1e-6) // 51/255 = 0.2 = the mean
    assert.deepEqual(
      prepareBatch(images, { size: 16, normalization: IDENTITY }).shape,
      [2, 3, 16, 16],
    )
  })

  it('brightness alone scales every pixel of a patch by one factor within the range', () => {
    const images = t.randint(10, 100, [8, 6, 6, 3], { dtype: 'uint8' })
    const plain = prepareBatch(images, { size: 6, normalization: IDENTITY })
    const bright = prepareBatch(images, {
      size: 6,
      normalization: IDENTITY,
      augment: { brightness: 0.3 },
      generator: new t.Generator(2),
    })
    const ratio = bright.div(plain)
    const perPatch = ratio.max([1, 2, 3]).sub(ratio.min([1, 2, 3]))
    assert.ok(perPatch.max().item() < 1e-4)
    const factors = ratio.mean([1, 2, 3]).toArray()
    assert.ok(factors.every((f) => f >= 0.7 && f <= 1.3))
    assert.ok(new Set(factors.map((f) => f.toFixed(3))).size > 4)
  })

  it('stain jitter of strength 0 is the identity; strength 0.02 changes colours but not much', () => {
    const x = t.rand([4, 3, 8, 8]).mul(0.45).add(0.5) // the bright, pink range of H&E tissue
    const same = stainJitter(x, 0, new t.Generator(3))
    assert.ok(same.sub(x).abs().max().item() < 1e-4)
    const jittered = stainJitter(x, 0.02, new t.Generator(3))
    const change = jittered.sub(x).abs().mean().item()
    assert.ok(change > 1e-3 && change < 0.1, `mean change ${change}`)
  })

  it('the same seed gives the same augmented batch; another seed another', () => {
    const images = t.randint(0, 256, [16, 12, 12, 3], { dtype: 'uint8' })
    const augment = {
      dihedral: true,
      cropPadding: 2,
      brightness: 0.1,
      contrast: 0.1,
      saturation: 0.1,
      hue: 0.05,
      stain: 0.05,
    }
    const run = (seed: number) =>
      prepareBatch(images, {
        size: 12,
        normalization: IDENTITY,
        augment,
        generator: new t.Generator(seed),
      }).toArray()
    assert.deepEqual(run(7), run(7))
    assert.notDeepEqual(run(7), run(8))
  })
})

describe('loader', async () => {
  const dir = tempDir('loader')
  for (let i = 0; i < 10; i++) {
    mkdirSync(join(dir, 'src', String(i % 2)), { recursive: true })
    writeFileSync(
      join(dir, 'src', String(i % 2), `p${i}.png`),
      await encodePng(new Uint8Array(4 * 4 * 3).fill(i * 20), 4, 4),
    )
  }
  await prepareStore({
    sources: [join(dir, 'src')],
    out: join(dir, 'store'),
    split: { kind: 'source' },
  })
  const store = PatchStore.open(join(dir, 'store'))
  const all = [...Array(store.count).keys()]
  const loader = (seed: number, options = {}) =>
    new PatchLoader(store, all, {
      batchSize: 4,
      shuffle: true,
      dropLast: false,
      seed,
      normalization: IDENTITY,
      ...options,
    })
  const order = (l: PatchLoader, epoch: number, from = 0) =>
    [...l.epoch(epoch, from)].flatMap((b) => b.indices.toArray())

  it('an epoch visits every patch once, shuffled, with labels that match the store', () => {
    const l = loader(1)
    assert.equal(l.length, 3)
    const seen = order(l, 0)
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      all,
    )
    assert.notDeepEqual(seen, all)
    for (const batch of l.epoch(0)) {
      assert.deepEqual(
        batch.y.toArray(),
        batch.indices.toArray().map((i) => store.label(i)),
      )
    }
  })

  it('same seed and epoch give the same batches; another epoch another order', () => {
    assert.deepEqual(order(loader(1), 0), order(loader(1), 0))
    assert.notDeepEqual(order(loader(1), 0), order(loader(1), 1))
  })

  it('resuming from batch k yields exactly the batches a full epoch has from k on', () => {
    const augment = { dihedral: true, brightness: 0.2 }
    const full = [...loader(3, { augment }).epoch(2)].map((b) => b.x.toArray())
    const resumed = [...loader(3, { augment }).epoch(2, 1)].map((b) => b.x.toArray())
    assert.deepEqual(resumed, full.slice(1))
  })

  it('dropLast drops the short final batch', () => {
    assert.equal(loader(1, { dropLast: true }).length, 2)
  })
})
