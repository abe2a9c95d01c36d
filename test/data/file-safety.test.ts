// What prepare does with the file system: it follows symbolic links (and stops at loops), deletes
// only patch stores, caps what it inflates and leaves no temporary files behind.
import assert from 'node:assert/strict'
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, it } from 'node:test'
import { createGunzip, gzipSync } from 'node:zlib'
import yazl from 'yazl'
import { prepareStore } from '../../src/data/prepare.js'
import { copyCapped } from '../../src/data/sources/hdf5-file.js'
import { PatchStore } from '../../src/data/store.js'
import { patch, patchFolders, prepareFolder } from '../helpers/patch-folders.js'

const { root, folder } = patchFolders('files')

async function writeZip(path: string, files: [string, Buffer][]): Promise<void> {
  const zip = new yazl.ZipFile()
  for (const [name, data] of files) zip.addBuffer(data, name)
  zip.end()
  await pipeline(zip.outputStream, createWriteStream(path))
}

describe('symbolic links', () => {
  it('a symlinked class folder is read like a real one', async () => {
    const elsewhere = folder({ 'b.png': await patch(2), 'c.png': await patch(3) })
    const dir = folder({ '0/a.png': await patch(1) })
    symlinkSync(elsewhere, join(dir, '1'))
    const result = await prepareFolder(dir)
    assert.equal(result.count, 3)
    const store = PatchStore.open(`${dir}-store`)
    assert.deepEqual(store.meta.classes, ['0', '1'])
    assert.deepEqual(store.meta.ids, ['0/a', '1/b', '1/c'])
    store.dispose()
  })

  it('two symlinked class folders (and nothing else) make a two-class store', async () => {
    const zeros = folder({ 'a.png': await patch(1) })
    const ones = folder({ 'b.png': await patch(2) })
    const dir = folder({})
    symlinkSync(zeros, join(dir, '0'))
    symlinkSync(ones, join(dir, '1'))
    const result = await prepareFolder(dir)
    assert.equal(result.count, 2)
  })

  it('a link back to a folder that contains it is refused, not followed forever', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    symlinkSync(dir, join(dir, '1', 'again'))
    await assert.rejects(
      prepareStore({ sources: [dir], out: `${dir}-store`, split: null }),
      /Symbolic link loop: .*1\/again leads back to/,
    )
  })

  it('a broken link is named, not skipped', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    symlinkSync(join(root, 'nowhere.png'), join(dir, '1', 'gone.png'))
    await assert.rejects(
      prepareStore({ sources: [dir], out: `${dir}-store`, split: null }),
      /Cannot follow the symbolic link .*1\/gone\.png: it points to .*nowhere\.png/,
    )
  })
})

describe('--overwrite replaces only patch stores', () => {
  it('replaces an existing store', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    const out = `${dir}-store`
    await prepareStore({ sources: [dir], out, split: { kind: 'source' } })
    const again = await prepareStore({
      sources: [dir],
      out,
      split: { kind: 'source' },
      overwrite: true,
    })
    assert.equal(again.count, 2)
    assert.ok(
      !existsSync(join(out, '.pcam-partial')),
      'the partial marker does not stay in the store',
    )
  })

  it('never deletes the source, a folder holding it, or a folder that is not a store', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    const notes = folder({ 'notes.txt': 'precious' })
    for (const [out, reason] of [
      [dir, /Refusing to overwrite .*: it holds the source/],
      [join(dir, '..'), /Refusing to overwrite .*: it holds the source/],
      [notes, /Refusing to overwrite .*: it is not a patch store/],
    ] as const) {
      await assert.rejects(
        prepareStore({ sources: [dir], out, split: null, overwrite: true }),
        reason,
      )
    }
    assert.ok(existsSync(join(dir, '0/a.png')) && existsSync(join(dir, '1/b.png')))
    assert.equal(readFileSync(join(notes, 'notes.txt'), 'utf8'), 'precious')
  })

  it('never deletes a "<out>.partial" folder that prepare did not leave', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    const out = `${dir}-store`
    mkdirSync(`${out}.partial`)
    writeFileSync(join(`${out}.partial`, 'thesis.tex'), 'precious')
    await assert.rejects(
      prepareStore({ sources: [dir], out, split: null }),
      /\.partial exists but was not left by "pcam data prepare"/,
    )
    assert.equal(readFileSync(join(`${out}.partial`, 'thesis.tex'), 'utf8'), 'precious')
  })
})

describe('caps on what is inflated', () => {
  it('a zip entry larger than a patch image can be is refused before it is read', async () => {
    // Mounted as train/0/a.png and train/1/huge.png: class folders inside a train split.
    const zip = join(mkdtempSync(join(root, 'zip-')), 'train.zip')
    await writeZip(zip, [
      ['0/a.png', await patch(1)],
      ['1/huge.png', Buffer.alloc(17 * 2 ** 20)],
    ])
    await assert.rejects(
      prepareStore({ sources: [zip], out: `${zip}-store`, split: null }),
      /Refusing to read .*train\.zip:1\/huge\.png: it declares it holds 17 MiB, more than the 16 MiB a patch image may have\.$/,
    )
  })

  it('an inflating copy stops at its cap and leaves no file', async () => {
    const target = join(root, 'inflated.h5')
    await assert.rejects(
      copyCapped(
        Readable.from([gzipSync(Buffer.alloc(2 ** 20))]),
        [createGunzip()],
        target,
        { bytes: 1000, what: 'a test file' },
        'test.h5.gz',
      ),
      /Refusing to extract test\.h5\.gz: it inflates past 1000 bytes, more than a test file may hold/,
    )
    assert.ok(!existsSync(target))
  })

  it('a .h5.gz that is not HDF5 is refused in one line and its inflated copy removed', async () => {
    const dir = folder({
      'camelyonpatch_level_2_split_valid_x.h5.gz': gzipSync('not hdf5 '.repeat(10_000)),
      'camelyonpatch_level_2_split_valid_y.h5.gz': gzipSync('nor this'),
    })
    const scratch = mkdtempSync(join(root, 'tmp-'))
    const saved = process.env.TMPDIR
    process.env.TMPDIR = scratch // where the inflated copy goes
    try {
      await assert.rejects(
        prepareStore({ sources: [dir], out: `${dir}-store`, split: null }),
        /^DataError: \S*valid_x\.h5\.gz is named like a PCam HDF5 file but is not HDF5 \(no HDF5 signature\) once decompressed\.[^\n]*$/,
      )
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
    assert.deepEqual(readdirSync(scratch), [], 'nothing is left in the temporary folder')
  })
})
