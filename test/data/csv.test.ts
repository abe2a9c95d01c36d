// The CSV files pcam reads (Kaggle's train_labels.csv, PCam's _meta.csv, id → slide maps) are
// parsed as CSV, not split on commas: quoted fields with commas, quotes and line breaks survive.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { prepareStore } from '../../src/data/prepare.js'
import { parseKaggleLabels } from '../../src/data/sources/kaggle.js'
import { parseSlideMap } from '../../src/data/split.js'
import { PatchStore } from '../../src/data/store.js'
import { DataError } from '../../src/errors.js'
import { patchFolders } from '../helpers/patch-folders.js'

const { folder } = patchFolders('csv')
const odd = ['plain', 'with,comma', 'with "quotes"', 'with\nnewline']
const quoted = (s: string) => `"${s.replaceAll('"', '""')}"`

describe('CSV inputs', () => {
  it('train_labels.csv: quoted ids keep their commas, quotes and line breaks', () => {
    const text = ['id,label', ...odd.map((id, i) => `${quoted(id)},${i % 2}`)].join('\r\n')
    const { labels, problems } = parseKaggleLabels(text, 'train_labels.csv')
    assert.deepEqual(problems, [])
    assert.deepEqual(
      [...labels],
      odd.map((id, i) => [id, i % 2]),
    )
  })

  it('train_labels.csv: a row with a third field is a problem naming its line', () => {
    const { problems } = parseKaggleLabels('id,label\na,1\nb,0,extra\n', 'labels.csv')
    assert.equal(problems.length, 1)
    assert.match(problems[0]!.location, /^labels\.csv:3$/)
    assert.match(problems[0]!.reason, /expected "id,label" but found 3 fields/)
  })

  it('an unclosed quote is refused with the file named', () => {
    assert.throws(
      () => parseKaggleLabels('id,label\n"a,1\n', 'train_labels.csv'),
      (e: unknown) =>
        e instanceof DataError && /^train_labels\.csv is not valid CSV/.test(e.message),
    )
  })

  it('an id → slide map with quoted fields', () => {
    const text = ['id,slide', ...odd.map((id, i) => `${quoted(id)},${quoted(`slide, ${i}`)}`)].join(
      '\n',
    )
    assert.deepEqual(
      [...parseSlideMap(text, 'slides.csv')],
      odd.map((id, i) => [id, `slide, ${i}`]),
    )
  })

  it("PCam's _meta.csv: the wsi column is found past quoted fields holding commas", async () => {
    const h5wasm = await import('h5wasm/node')
    await h5wasm.ready
    const dir = folder({
      'camelyonpatch_level_2_split_valid_meta.csv': [
        'coord_y,coord_x,note,wsi',
        '0,0,"tumour, maybe",slide_a',
        '0,0,"a ""quoted"" note",slide_b',
      ].join('\n'),
    })
    const write = (name: string, data: Uint8Array, shape: number[]) => {
      const file = new h5wasm.File(join(dir, name), 'w')
      file.create_dataset({ name: 'x', data, shape, dtype: '<B' })
      file.close()
    }
    write('camelyonpatch_level_2_split_valid_x.h5', new Uint8Array(2 * 4 * 4 * 3), [2, 4, 4, 3])
    write('camelyonpatch_level_2_split_valid_y.h5', Uint8Array.from([0, 1]), [2, 1, 1, 1])
    writeFileSync(join(dir, 'unrelated.txt'), '')
    await prepareStore({ sources: [dir], out: `${dir}-store`, split: { kind: 'source' } })
    const store = PatchStore.open(`${dir}-store`)
    assert.deepEqual(store.meta.slides, ['slide_a', 'slide_b'])
    store.dispose()
  })
})
