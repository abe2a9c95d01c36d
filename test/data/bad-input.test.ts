// Every bad input a user can hit while preparing data fails with a message naming the file, and
// loses nothing; --skip-bad keeps going and lists what it left out.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import sharp from 'sharp'
import { prepareStore } from '../../src/data/prepare.js'
import { PatchStore } from '../../src/data/store.js'
import { DataError } from '../../src/errors.js'
import { patch, patchFolders, prepareFolder } from '../helpers/patch-folders.js'

const { root, folder } = patchFolders('bad')
const id = (n: number) => n.toString(16).padStart(40, '0')

async function expectFailure(dir: string, pattern: RegExp): Promise<void> {
  const out = `${dir}-store`
  await assert.rejects(
    prepareStore({ sources: [dir], out, split: null }),
    (e: unknown) => e instanceof DataError && pattern.test(e.message),
  )
  assert.ok(!existsSync(out), 'no store is written')
  assert.ok(!existsSync(`${out}.partial`), 'no partial store is left')
}

/** Three good patches and one file that is no image: a quarter of the inputs bad. */
const oneBadOfFour = async () =>
  folder({
    '0/a.png': await patch(1),
    '0/b.png': await patch(1),
    '1/c.png': await patch(2),
    '1/bad.png': 'xx',
  })

describe('bad input', () => {
  it('a corrupt image names the file', async () => {
    const dir = folder({
      '0/a.png': await patch(1),
      '1/b.png': await patch(2),
      '1/broken.jpg': 'not a jpeg',
    })
    await expectFailure(dir, /1\/broken\.jpg: cannot decode image/)
  })

  it('a patch of the wrong size names the file and both sizes', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/big.png': await patch(2, 12) })
    await expectFailure(dir, /1\/big\.png: wrong size 12x12, expected 8x8/)
  })

  it('an empty folder says what was looked for', async () => {
    const dir = folder({ 'notes.txt': 'nothing here' })
    await expectFailure(dir, /No images found in .*\(looked for \.png, \.jpg/)
  })

  it('a missing source path says how to get data', async () => {
    await assert.rejects(
      prepareStore({ sources: [join(root, 'nowhere')], out: join(root, 'x'), split: null }),
      /Data source not found: .*nowhere\. Check the path, or run "pcam download"/,
    )
  })

  const tif = () => patch(3)
  it('Kaggle: a TIFF without a label, a label without a TIFF, a non-binary label, a duplicate id', async () => {
    const dir = folder({
      [`train/${id(1)}.tif`]: await tif(),
      [`train/${id(2)}.tif`]: await tif(),
      [`train/${id(3)}.tif`]: await tif(),
      [`train/${id(4)}.tif`]: await tif(),
      'train_labels.csv': [
        'id,label',
        `${id(1)},0`,
        `${id(2)},2`,
        `${id(1)},1`,
        `${id(4)},1`,
        `${id(9)},0`,
      ].join('\n'),
    })
    const out = `${dir}-store`
    const error = await prepareStore({ sources: [dir], out, split: null }).catch(
      (e: unknown) => e as Error,
    )
    assert.ok(error instanceof DataError)
    assert.match(error.message, /train_labels\.csv:3: label of 0+2 is "2", expected 0 or 1/)
    assert.match(error.message, /train_labels\.csv:4: duplicate id 0+1/)
    assert.match(error.message, new RegExp(`train/${id(3)}\\.tif: missing label`))
    assert.match(
      error.message,
      new RegExp(`${id(9)} is labelled but train/${id(9)}\\.tif is missing`),
    )
    assert.match(error.message, /Full list: .*problems\.txt\. Fix them, or pass --skip-bad/)
    assert.ok(readFileSync(`${out}.problems.txt`, 'utf8').includes('missing label'))
  })

  it('a missing train_labels.csv is named', async () => {
    const dir = folder({ [`train/${id(1)}.tif`]: await tif() })
    await expectFailure(dir, /has train\/\*\.tif but no train_labels\.csv/)
  })

  it('--skip-bad writes the good patches and lists the bad ones in the store', async () => {
    const dir = await oneBadOfFour()
    const out = `${dir}-store`
    const result = await prepareFolder(dir, { skipBad: true, maxSkipped: 0.25 })
    assert.equal(result.count, 3)
    assert.match(readFileSync(join(out, 'skipped.txt'), 'utf8'), /1\/bad\.png\tcannot decode image/)
    const store = PatchStore.open(out)
    assert.equal(store.meta.skipped, 1)
    store.dispose()
  })

  it('--dedupe drops exact-pixel duplicates and counts them', async () => {
    const dir = folder({
      '0/a.png': await patch(1),
      '0/b.png': await patch(1),
      '1/c.png': await patch(2),
    })
    const result = await prepareStore({
      sources: [dir],
      out: `${dir}-store`,
      split: { kind: 'source' },
      dedupe: true,
    })
    assert.equal(result.count, 2)
    assert.equal(result.duplicatesDropped, 1)
  })

  it('an interrupted run leaves no store; the next run discards its partial folder and starts afresh', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    const out = `${dir}-store`
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(
      prepareStore({ sources: [dir], out, split: null, signal: controller.signal }),
      /Interrupted; nothing was written/,
    )
    assert.ok(!existsSync(out) && !existsSync(`${out}.partial`))
    mkdirSync(`${out}.partial`) // as a process killed outright leaves it
    const result = await prepareStore({ sources: [dir], out, split: { kind: 'source' } })
    assert.ok(result.restarted)
    assert.equal(result.count, 2)
    await assert.rejects(
      prepareStore({ sources: [dir], out, split: null }),
      /already exists\. Pass --overwrite/,
    )
  })

  it('a damaged store is refused with the file and the fix', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2) })
    const out = `${dir}-store`
    await prepareStore({ sources: [dir], out, split: { kind: 'source' } })
    writeFileSync(join(out, 'images.u8'), Buffer.alloc(10))
    assert.throws(
      () => PatchStore.open(out),
      /images\.u8 has 10 bytes, expected 384; prepare the store again/,
    )
    assert.throws(() => PatchStore.open(dir), /is not a patch store \(no meta\.json\)/)
  })

  it('--skip-bad keeps the size most patches have, even when an odd-sized file sorts first', async () => {
    const dir = folder({
      '0/a-odd.png': await patch(1, 12),
      '0/b.png': await patch(1),
      '0/c.png': await patch(1),
      '1/d.png': await patch(2),
    })
    const out = `${dir}-store`
    const result = await prepareFolder(dir, { skipBad: true, maxSkipped: 0.25 })
    assert.equal(result.count, 3)
    assert.deepEqual(
      result.skipped.map((p) => p.reason),
      ['wrong size 12x12, expected 8x8'],
    )
    const store = PatchStore.open(out)
    assert.equal(store.meta.height, 8)
    assert.deepEqual(store.meta.ids, ['0/b', '0/c', '1/d'])
    store.dispose()
  })

  it('--skip-bad fails when more than 1% is skipped, unless --max-skipped allows it', async () => {
    const dir = await oneBadOfFour()
    const out = `${dir}-store`
    const error = await prepareStore({ sources: [dir], out, split: null, skipBad: true }).catch(
      (e: unknown) => e as Error,
    )
    assert.ok(error instanceof DataError)
    assert.match(
      error.message,
      /^1 of 4 inputs are bad \(25%\), more than --max-skipped 0\.01 \(1%\)/,
    )
    assert.match(error.message, /1\/bad\.png: cannot decode image/)
    assert.match(error.message, /pass a larger --max-skipped <share>/)
    assert.ok(!existsSync(out) && !existsSync(`${out}.partial`))
    assert.ok(readFileSync(`${out}.problems.txt`, 'utf8').includes('bad.png'))
    const result = await prepareFolder(dir, { skipBad: true, maxSkipped: 0.25 })
    assert.equal(result.count, 3)
    await assert.rejects(
      prepareStore({ sources: [dir], out: `${out}2`, split: null, skipBad: true, maxSkipped: 2 }),
      /Expected --max-skipped between 0 and 1 \(a share of the inputs\) but received 2/,
    )
    await assert.rejects(
      prepareStore({ sources: [dir], out: `${out}3`, split: null, mpp: 0 }),
      /Expected number in \[0\.01, 100\] for --mpp but received 0/,
    )
  })

  it('a rerun that succeeds removes the problem list of the failed run before it', async () => {
    const dir = folder({ '0/a.png': await patch(1), '1/b.png': await patch(2), '1/x.png': 'x' })
    const out = `${dir}-store`
    await assert.rejects(prepareStore({ sources: [dir], out, split: null }), /bad input/)
    assert.ok(existsSync(`${out}.problems.txt`))
    rmSync(join(dir, '1/x.png'))
    await prepareStore({ sources: [dir], out, split: { kind: 'source' } })
    assert.ok(!existsSync(`${out}.problems.txt`), 'the stale problem list is gone')
  })

  it('a corrupt JPEG says it is not a valid JPEG, and junk says it is no image at all', async () => {
    const jpeg = await sharp(Buffer.alloc(8 * 8 * 3, 90), {
      raw: { width: 8, height: 8, channels: 3 },
    })
      .jpeg()
      .toBuffer()
    const dir = folder({
      '0/a.png': await patch(1),
      '1/cut.jpg': jpeg.subarray(0, jpeg.length >> 1),
      '1/junk.png': 'hello',
    })
    await expectFailure(
      dir,
      /1\/cut\.jpg: cannot decode image: not a valid JPEG \(truncated or corrupt\)/,
    )
    await expectFailure(
      dir,
      /1\/junk\.png: cannot decode image: not a PNG, JPEG or TIFF file \(5 bytes starting 0x68656c6c\)/,
    )
  })

  it('files named like PCam HDF5 that are not HDF5 give one clear line', async () => {
    const dir = folder({
      'camelyonpatch_level_2_split_valid_x.h5': 'this is not hdf5 '.repeat(100),
      'camelyonpatch_level_2_split_valid_y.h5': 'nor is this',
    })
    await expectFailure(
      dir,
      /^\S*camelyonpatch_level_2_split_valid_x\.h5 is named like a PCam HDF5 file but is not HDF5 \(no HDF5 signature\)\. [^\n]*$/,
    )
  })

  it('PCam HDF5 with labels other than 0/1 or values other than bytes is refused, not misread', async () => {
    const h5 = await import('h5wasm/node')
    await h5.ready
    const write = (
      path: string,
      name: string,
      data: ArrayBufferView,
      shape: number[],
      dtype: string,
    ) => {
      const file = new h5.File(path, 'w')
      file.create_dataset({ name, data: data as Uint8Array, shape: [...shape], dtype })
      file.close()
    }
    const pixels = new Uint8Array(2 * 8 * 8 * 3).fill(120)
    const labels = (values: number[]) =>
      [new Uint8Array(values), [2, 1, 1, 1] as number[], '<B'] as const
    for (const [kind, x, y, message] of <
      [
        string,
        readonly [ArrayBufferView, number[], string],
        readonly [ArrayBufferView, number[], string],
        RegExp,
      ][]
    >[
      [
        'labels',
        [pixels, [2, 8, 8, 3], '<B'],
        labels([0, 7]),
        /camelyonpatch_level_2_split_valid_x\.h5\[1\] has the label 7; PCam's are 0 or 1/,
      ],
      [
        'floats',
        [new Float32Array(2 * 8 * 8 * 3), [2, 8, 8, 3], '<f'],
        labels([0, 1]),
        /camelyonpatch_level_2_split_valid_x\.h5 holds <f values, not the uint8 of PCam's files/,
      ],
    ]) {
      const dir = join(root, `h5-${kind}`)
      mkdirSync(dir)
      write(join(dir, 'camelyonpatch_level_2_split_valid_x.h5'), 'x', x[0], x[1], x[2])
      write(join(dir, 'camelyonpatch_level_2_split_valid_y.h5'), 'y', y[0], y[1], y[2])
      await expectFailure(dir, message)
    }
  })

  it('a source of test patches only keeps them in test and takes mean/std from all of them', async () => {
    const dir = folder({ 'test/0/a.png': await patch(51), 'test/1/b.png': await patch(153) })
    const out = `${dir}-store`
    const result = await prepareStore({ sources: [dir], out, split: null })
    assert.deepEqual(result.splitCounts, { test: 2 })
    const store = PatchStore.open(out)
    assert.match(store.meta.splitMethod, /test patches only/)
    assert.doesNotMatch(store.meta.splitMethod, /random/)
    assert.equal(store.meta.statsFrom, 'all')
    for (const m of store.meta.mean) assert.ok(Math.abs(m - 0.4) < 1e-6, `mean ${m}`)
    for (const s of store.meta.std) assert.ok(Math.abs(s - 0.2) < 1e-6, `std ${s}`)
    store.dispose()
    await assert.rejects(
      prepareStore({
        sources: [dir],
        out: `${out}2`,
        split: { kind: 'random', validPct: 0.2, seed: 1 },
      }),
      /is a test patch, so there is nothing to split into train and valid/,
    )
  })

  it('a source folder passed as a store suggests a store beside it, not inside it', async () => {
    const dir = folder({ '0/a.png': await patch(1) })
    const error = (() => {
      try {
        PatchStore.open(dir)
      } catch (e) {
        return e as Error
      }
    })()
    assert.ok(error instanceof DataError)
    assert.ok(error.message.includes(`--out ${dir}-store`), error.message)
    assert.ok(!error.message.includes(`--out ${dir}/`), error.message)
  })
})
