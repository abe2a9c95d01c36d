// Every real patch of ../shared/data through `prepare`: counts, labels and pixels match the sources,
// and PCam HDF5 (plain, .gz, zipped) and Kaggle zips written from real patches load to the same pixels.
import assert from 'node:assert/strict'
import {
  createReadStream,
  createWriteStream,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { before, describe, it } from 'node:test'
import yazl from 'yazl'
import { decodePatch } from '../../src/data/decode.js'
import { prepareStore } from '../../src/data/prepare.js'
import { PatchStore } from '../../src/data/store.js'
import { KAGGLE_SAMPLE, PCAM_JPEG, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const work = tempDir('data')
const PATCH = 96 * 96 * 3

function patchOf(store: PatchStore, i: number): Buffer {
  const bytes = store.images.select(0, i).data() as Uint8Array
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

async function writeZip(path: string, files: [string, Buffer][]): Promise<void> {
  const zip = new yazl.ZipFile()
  for (const [name, data] of files) zip.addBuffer(data, name)
  zip.end()
  await pipeline(zip.outputStream, createWriteStream(path))
}

describe('real PCam patches', { skip: skipWithoutData }, () => {
  it('class folders: all 23,000 JPEG patches, labels from folders, splits from train/ and valid/', async () => {
    const result = await prepareStore({
      sources: [PCAM_JPEG],
      out: join(work, 'jpeg'),
      split: null,
    })
    assert.equal(result.count, 23000)
    assert.deepEqual(result.splitCounts, { train: 20000, valid: 3000 })
    const store = PatchStore.open(join(work, 'jpeg'))
    let positives = 0
    for (let i = 0; i < store.count; i++) {
      const [, cls] = store.meta.ids[i]!.split('/')
      assert.equal(store.label(i), Number(cls), store.meta.ids[i])
      positives += store.label(i)
    }
    assert.equal(positives, 11500)
    for (const i of [0, 12345, 22999]) {
      const file = join(PCAM_JPEG, `${store.meta.ids[i]}.jpg`)
      const decoded = await decodePatch(readFileSync(file))
      assert.ok(patchOf(store, i).equals(decoded.pixels), `pixels of ${file}`)
    }
    assert.ok(
      store.meta.mean.every((m) => m > 0.4 && m < 0.9),
      `mean ${store.meta.mean}`,
    )
    store.dispose()
  })

  describe('Kaggle layout', () => {
    let reference: PatchStore
    const labels = new Map(
      readFileSync(join(KAGGLE_SAMPLE, 'train_labels.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    )
    before(async () => {
      await prepareStore({ sources: [KAGGLE_SAMPLE], out: join(work, 'kaggle'), split: null })
      reference = PatchStore.open(join(work, 'kaggle'))
    })

    it('all 1,500 TIFFs with the labels of train_labels.csv, bit-exact pixels', async () => {
      assert.equal(reference.count, 1500)
      for (let i = 0; i < reference.count; i++) {
        assert.equal(
          String(reference.label(i)),
          labels.get(reference.meta.ids[i]!),
          reference.meta.ids[i],
        )
      }
      const counts = [0, 0]
      for (let i = 0; i < reference.count; i++) counts[reference.label(i)]!++
      assert.deepEqual(counts, [868, 632])
      assert.deepEqual(
        Object.fromEntries(
          ['train', 'valid'].map((s) => [s, reference.indicesOf(s as 'train').length]),
        ),
        { train: 1200, valid: 300 },
      )
    })

    it('the same patches from the competition zips: train.zip + train_labels.csv.zip', async () => {
      const ids = readdirSync(join(KAGGLE_SAMPLE, 'train')).slice(0, 200)
      await writeZip(
        join(work, 'train.zip'),
        ids.map((f) => [f, readFileSync(join(KAGGLE_SAMPLE, 'train', f))]),
      )
      const csv = [
        'id,label',
        ...ids.map((f) => `${f.replace('.tif', '')},${labels.get(f.replace('.tif', ''))}`),
      ]
      await writeZip(join(work, 'train_labels.csv.zip'), [
        ['train_labels.csv', Buffer.from(csv.join('\n'))],
      ])
      await prepareStore({
        sources: [join(work, 'train.zip'), join(work, 'train_labels.csv.zip')],
        out: join(work, 'kaggle-zip'),
        split: { kind: 'source' },
      })
      const zipped = PatchStore.open(join(work, 'kaggle-zip'))
      assert.equal(zipped.count, 200)
      const position = new Map(reference.meta.ids.map((id, i) => [id, i]))
      for (let i = 0; i < zipped.count; i++) {
        const j = position.get(zipped.meta.ids[i]!)!
        assert.equal(zipped.label(i), reference.label(j))
        assert.ok(patchOf(zipped, i).equals(patchOf(reference, j)), zipped.meta.ids[i])
      }
      zipped.dispose()
    })

    it('PCam HDF5 files written from real patches (plain, .h5.gz, zipped) load to the same pixels', async () => {
      const h5wasm = await import('h5wasm/node')
      await h5wasm.ready
      const n = 100
      const x = new Uint8Array(n * PATCH)
      const y = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        x.set(patchOf(reference, i), i * PATCH)
        y[i] = reference.label(i)
      }
      const dir = join(work, 'h5')
      const { mkdirSync } = await import('node:fs')
      mkdirSync(dir)
      const write = (name: string, data: Uint8Array, shape: number[], chunks: number[]) => {
        const file = new h5wasm.File(join(dir, name), 'w')
        file.create_dataset({
          name: name.includes('_x') ? 'x' : 'y',
          data,
          shape,
          dtype: '<B',
          chunks,
          compression: 4,
        })
        file.close()
      }
      write('camelyonpatch_level_2_split_valid_x.h5', x, [n, 96, 96, 3], [16, 96, 96, 3])
      write('camelyonpatch_level_2_split_valid_y.h5', y, [n, 1, 1, 1], [n, 1, 1, 1])
      const meta = [
        'coord_y,coord_x,tumor_patch,center_tumor_patch,wsi',
        ...Array.from({ length: n }, (_, i) => `0,0,False,False,slide_${i % 7}`),
      ]
      writeFileSync(join(dir, 'camelyonpatch_level_2_split_valid_meta.csv'), meta.join('\n'))
      const check = async (sources: string[], out: string) => {
        await prepareStore({ sources, out, split: null })
        const store = PatchStore.open(out)
        assert.equal(store.count, n)
        for (let i = 0; i < n; i++) {
          assert.equal(store.label(i), reference.label(i))
          assert.ok(patchOf(store, i).equals(patchOf(reference, i)), `${out} patch ${i}`)
        }
        assert.equal(store.meta.ids[5], 'valid/5')
        assert.equal(store.meta.slides?.[8], 'slide_1')
        store.dispose()
      }
      await check([dir], join(work, 'from-h5'))
      // The official release ships the files gzipped.
      const gzDir = join(work, 'h5gz')
      mkdirSync(gzDir)
      for (const f of readdirSync(dir)) {
        const target = f.endsWith('.h5') ? `${f}.gz` : f
        if (f.endsWith('.h5'))
          await pipeline(
            createReadStream(join(dir, f)),
            createGzip(),
            createWriteStream(join(gzDir, target)),
          )
        else writeFileSync(join(gzDir, target), readFileSync(join(dir, f)))
      }
      await check([gzDir], join(work, 'from-h5gz'))
      await writeZip(
        join(work, 'pcam.zip'),
        readdirSync(gzDir).map((f) => [f, readFileSync(join(gzDir, f))]),
      )
      await check([join(work, 'pcam.zip')], join(work, 'from-h5zip'))
    })
  })
})
