// Every bad input a user can hit while preparing data fails with a message naming the file, and
// loses nothing; --skip-bad keeps going and lists what it left out.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { encodePng } from '../../src/data/decode.js'
import { prepareStore } from '../../src/data/prepare.js'
import { PatchStore } from '../../src/data/store.js'
import { DataError } from '../../src/errors.js'

const root = mkdtempSync(join(tmpdir(), 'pcam-bad-'))
let counter = 0

/** A fresh folder with the given files (path → bytes). */
function folder(files: Record<string, Buffer | string>): string {
  const dir = join(root, `case${counter++}`)
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), data)
  }
  return dir
}

const patch = (value: number, size = 8) =>
  encodePng(new Uint8Array(size * size * 3).fill(value), size, size)
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
    const dir = folder({
      '0/a.png': await patch(1),
      '0/b.png': await patch(1),
      '1/c.png': await patch(2),
      '1/bad.png': 'xx',
    })
    const out = `${dir}-store`
    const result = await prepareStore({
      sources: [dir],
      out,
      split: { kind: 'source' },
      skipBad: true,
    })
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
})
