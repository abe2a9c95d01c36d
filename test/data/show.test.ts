// data show on real patches: a PNG of the requested grid, the same picture for the same seed.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import sharp from 'sharp'
import { DEFAULT_TRAIN_AUGMENT } from '../../src/data/augment.js'
import { prepareStore } from '../../src/data/prepare.js'
import { showBatch } from '../../src/data/show.js'
import { PatchStore } from '../../src/data/store.js'
import { KAGGLE_SAMPLE, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('data show', { skip: skipWithoutData }, () => {
  it('draws rows x cols labelled tiles, reproducibly, with and without augmentation', async () => {
    const out = join(tempDir('show'), 'store')
    await prepareStore({ sources: [KAGGLE_SAMPLE], out, split: null })
    const store = PatchStore.open(out)
    const options = { rows: 2, cols: 3, split: 'train' as const, seed: 1, augment: null, tile: 64 }
    const png = await showBatch(store, options)
    const meta = await sharp(png).metadata()
    assert.equal(meta.format, 'png')
    assert.equal(meta.width, 3 * (64 + 8))
    assert.equal(meta.height, 2 * (64 + 8 + 18))
    assert.ok(png.equals(await showBatch(store, options)))
    const augmented = await showBatch(store, { ...options, augment: DEFAULT_TRAIN_AUGMENT })
    assert.ok(!png.equals(augmented))
    store.dispose()
  })
})
