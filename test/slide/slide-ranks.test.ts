// slide predict shared out between ranks (--nproc): every slide predicted once, by one rank, with
// the probabilities of a single process; rank 0 writes slides.csv. A rank killed midway: the
// slides not done are named, and the same command finishes them, skipping those complete.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { readCsv } from '../../src/data/csv.js'
import { makeRandomSlideRun } from '../helpers/random-run.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const root = tempDir('slide-ranks')
const slides = join(root, 'slides')
const run = join(root, 'run')
const NAMES = ['s0.tif', 's1.tif', 's2.tif', 's3.tif', 's4.tif']

describe('slide predict on several ranks', () => {
  before(async () => {
    mkdirSync(slides)
    const [width, height] = [1024, 768]
    const pixels = Buffer.alloc(width * height * 3)
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + (i >> 11) * 13) & 0xff
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .tiff({
        tile: true,
        pyramid: true,
        compression: 'deflate',
        xres: 1000 / 0.972,
        yres: 1000 / 0.972,
        resolutionUnit: 'cm',
      })
      .toFile(join(slides, NAMES[0]!))
    for (const name of NAMES.slice(1)) copyFileSync(join(slides, NAMES[0]!), join(slides, name))
    await makeRandomSlideRun(run, 0.972)
  })

  const statuses = (out: string) =>
    readCsv(readFileSync(join(out, 'slides.csv'), 'utf8'), 'slides.csv').rows.map(
      (r) => r.fields[1],
    )

  it('predicts every slide once, as one process does, and rank 0 writes slides.csv', () => {
    const args = ['slide', 'predict', '--model', run, slides, '--no-tissue-mask']
    const single = spawnSync(process.execPath, [BIN, ...args, '--out', join(root, 'single')], {
      encoding: 'utf8',
    })
    assert.equal(single.status, 0, single.stderr)
    const shared = spawnSync(
      process.execPath,
      [BIN, ...args, '--out', join(root, 'shared'), '--nproc', '2'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(shared.status, 0, shared.stdout + shared.stderr)
    assert.deepEqual(
      statuses(join(root, 'shared')),
      NAMES.map(() => 'ok'),
    )
    for (const name of NAMES) {
      const stem = name.replace('.tif', '')
      assert.equal(
        readFileSync(join(root, 'shared', stem, 'tiles.csv'), 'utf8'),
        readFileSync(join(root, 'single', stem, 'tiles.csv'), 'utf8'),
        stem,
      )
    }
    assert.ok(!readdirSync(join(root, 'shared')).some((f) => f.startsWith('.pcam-rank')))
    assert.match(shared.stderr, /\[rank 1\] .*s1\.tif/, 'rank 1 predicted its share')
  })

  it('names the slides a killed rank left, and the same command finishes them', async () => {
    const out = join(root, 'killed')
    const args = [
      BIN,
      'slide',
      'predict',
      '--model',
      run,
      slides,
      '--no-tissue-mask',
      '--out',
      out,
      '--nproc',
      '2',
    ]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const code = await new Promise<number | null>((resolve) => {
      const watch = setInterval(() => {
        const pid = /rank 1: pid (\d+)/.exec(output)?.[1]
        if (pid) {
          clearInterval(watch)
          process.kill(Number(pid), 'SIGKILL') // before it has predicted anything
        }
      }, 20)
      child.on('exit', (c) => {
        clearInterval(watch)
        resolve(c)
      })
    })
    assert.equal(code, 1, output)
    assert.match(
      output,
      /Rank 1 was killed by SIGKILL; the other ranks were stopped\. Not predicted: .*s1\.tif.*s3\.tif/,
    )
    assert.match(output, /Run the same command again/)
    const again = spawnSync(process.execPath, args, { encoding: 'utf8' })
    assert.equal(again.status, 0, again.stdout + again.stderr)
    assert.deepEqual(
      statuses(out),
      NAMES.map(() => 'ok'),
    )
    for (const name of NAMES)
      assert.ok(existsSync(join(out, name.replace('.tif', ''), 'detections.csv')), name)
  })
})
