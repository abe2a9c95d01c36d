// TensorBoard event files: CRC-32C against published check values, and a Learner trained on real
// PCam patches whose event files are read back by an independent decoder (Python, with the Event
// class Debian's protoc compiles from test/learn/tensorboard/event.proto, and its own CRC-32C):
// every record's checksums, the tags, one loss and rate per optimizer step equal to what the
// Learner used, the validation metrics of metrics.jsonl, the top losses as a PNG of the stated
// size, and a stopped fit resumed into a second file that carries the steps on.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { decodePatch } from '../../src/data/decode.js'
import { fitTopLosses } from '../../src/eval/top-losses.js'
import { readHistory } from '../../src/run/run-folder.js'
import { TensorBoardLogger } from '../../src/learn/callbacks/tensorboard.js'
import { CancelFit, type Callback, type Learner } from '../../src/learn/learner.js'
import { crc32c, maskCrc } from '../../src/learn/tensorboard/crc32c.js'
import { FILE_VERSION } from '../../src/learn/tensorboard/event-file.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { learnerOn } from '../helpers/learner.js'
import { realStore, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const FIXTURES = join(PACKAGE_ROOT, 'test', 'learn', 'tensorboard')
const PYTHON = process.env.PCAM_PYTHON || '/usr/bin/python3'

/** False when protoc and Python's protobuf are there, else why the decoder cannot run. */
function decoderMissing(): string | false {
  const protoc = spawnSync('protoc', ['--version'], { stdio: 'ignore' })
  const python = spawnSync(PYTHON, ['-c', 'import google.protobuf'], { stdio: 'ignore' })
  if (protoc.status === 0 && python.status === 0) return false
  return (
    'the independent decoder needs Debian\'s protoc and Python protobuf: "apt-get install ' +
    `protobuf-compiler python3-protobuf" ("scripts/setup.sh test" does it); tried protoc and ${PYTHON}`
  )
}

interface DecodedValue {
  tag: string
  simple_value?: number
  image?: { height: number; width: number; colorspace: number; png: string }
}
interface DecodedEvent {
  wall_time: number
  step: number
  file_version?: string
  values?: DecodedValue[]
}

/** The event files as the Python decoder reads them (it fails on any bad frame or checksum). */
function decode(files: string[]): { path: string; events: DecodedEvent[] }[] {
  const compiled = mkdtempSync(join(tmpdir(), 'pcam-tb-proto-'))
  try {
    const protoc = spawnSync(
      'protoc',
      [`--proto_path=${FIXTURES}`, `--python_out=${compiled}`, 'event.proto', 'summary.proto'],
      { encoding: 'utf8' },
    )
    assert.equal(protoc.status, 0, protoc.stderr)
    const run = spawnSync(PYTHON, [join(FIXTURES, 'read_events.py'), ...files], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: compiled },
      maxBuffer: 1 << 28,
    })
    assert.equal(run.status, 0, `read_events.py: ${run.stderr}`)
    return (JSON.parse(run.stdout) as { files: { path: string; events: DecodedEvent[] }[] }).files
  } finally {
    rmSync(compiled, { recursive: true, force: true })
  }
}

/** Every scalar of a tag, as [step, value], in file order. */
function scalars(events: DecodedEvent[], tag: string): [number, number][] {
  return events.flatMap((e) =>
    (e.values ?? [])
      .filter((v) => v.tag === tag && v.simple_value !== undefined)
      .map((v): [number, number] => [e.step, v.simple_value as number]),
  )
}

describe('CRC-32C and its TFRecord mask', () => {
  it('gives the published check values', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
    assert.equal(crc32c(new Uint8Array(0)), 0)
    // RFC 3720 (iSCSI), B.4: 32 zeros, 32 x 0xff, 0..31.
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa)
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43)
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e)
  })

  it('masks by rotating right 15 bits and adding 0xa282ead8 modulo 2^32', () => {
    assert.equal(maskCrc(0), 0xa282ead8)
    assert.equal(maskCrc(0x8000), 0xa282ead9)
    assert.equal(maskCrc(1), 0xa284ead8)
    assert.equal(maskCrc(0xffffffff), 0xa282ead7)
    assert.equal(maskCrc(0x0001_8000), 0xa282eadb)
  })
})

const root = tempDir('tensorboard')

/** Records the loss and the head's learning rate of every optimizer step. */
function stepRecorder(): Callback & { steps: { loss: number; lr: number }[] } {
  const steps: { loss: number; lr: number }[] = []
  return {
    steps,
    afterStep(learn: Learner) {
      const groups = learn.optimizer.paramGroups
      steps.push({ loss: learn.lossValue, lr: (groups.at(-1) as { lr: number }).lr })
    },
  }
}

describe('TensorBoard event files of a fit', { skip: skipWithoutData || decoderMissing() }, () => {
  let store: string
  before(async () => {
    store = await realStore(root, 40)
  })

  it('hold every step, epoch and top-losses picture, read back by protoc-compiled Python', async () => {
    const out = join(root, 'run')
    const dir = join(out, 'tensorboard')
    const steps = stepRecorder()
    const { learn, config, dispose } = learnerOn(store, { callbacks: [steps] })
    const logger = new TensorBoardLogger(dir, {
      pictures: { 'valid/top_losses': fitTopLosses({ config }) },
    })
    learn.addCallback(logger)
    const began = Date.now() / 1000
    try {
      mkdirSync(out, { recursive: true })
      await learn.recorder.logTo(out)
      // Two fits (as a frozen and an unfrozen stage): the second carries the steps on.
      assert.equal(await learn.fitOneCycle(2, 1e-2, { stage: 'a' }), true)
      assert.equal(await learn.fitOneCycle(1, 1e-3, { stage: 'b' }), true)
    } finally {
      dispose()
    }
    const files = readdirSync(dir)
    assert.equal(files.length, 1, `one event file: ${files.join(', ')}`)
    assert.match(files[0] as string, /^events\.out\.tfevents\.\d{10}\..+$/)
    assert.equal(join(dir, files[0] as string), logger.path)
    const [file] = decode([logger.path as string])
    const events = (file as { events: DecodedEvent[] }).events

    const [first] = events
    assert.equal(first?.file_version, FILE_VERSION)
    for (const e of events) {
      assert.ok(e.wall_time >= Math.floor(began) && e.wall_time <= Date.now() / 1000 + 1)
    }

    const batches = 5 // 80 training patches in batches of 16
    const total = 3 * batches
    assert.equal(steps.steps.length, total)
    const losses = scalars(events, 'train/loss')
    const rates = scalars(events, 'train/lr')
    assert.equal(losses.length, total)
    assert.deepEqual(
      losses.map(([s]) => s),
      Array.from({ length: total }, (_, i) => i + 1),
    )
    assert.deepEqual(
      losses.map(([, v]) => v),
      steps.steps.map((s) => Math.fround(s.loss)),
    )
    assert.deepEqual(
      rates,
      steps.steps.map((s, i) => [i + 1, Math.fround(s.lr)]),
    )
    // The one-cycle schedule really moved the rate (warm-up, then down again).
    assert.ok(Math.max(...rates.map(([, v]) => v)) > 5 * (rates[0] as [number, number])[1])

    const metrics = readHistory(out)
    assert.equal(metrics.length, 3)
    const epochTags = ['valid/loss', 'valid/accuracy', 'valid/errorRate', 'valid/auc']
    const fields = ['validLoss', 'accuracy', 'errorRate', 'auc'] as const
    epochTags.forEach((tag, k) =>
      assert.deepEqual(
        scalars(events, tag),
        metrics.map((r, e) => [(e + 1) * batches, Math.fround(r[fields[k] as string] as number)]),
        tag,
      ),
    )
    assert.deepEqual(
      scalars(events, 'train/epoch_loss').map(([, v]) => v),
      metrics.map((r) => Math.fround(r.trainLoss)),
    )
    const tags = new Set(events.flatMap((e) => (e.values ?? []).map((v) => v.tag)))
    assert.deepEqual([...tags].sort(), [
      'train/epoch_loss',
      'train/images_per_sec',
      'train/loss',
      'train/lr',
      'train/rss_mb',
      'valid/accuracy',
      'valid/auc',
      'valid/errorRate',
      'valid/loss',
      'valid/seconds',
      'valid/top_losses',
    ])

    // One picture at the end of each fit, a PNG of the size the event states.
    const images = events.flatMap((e) =>
      (e.values ?? []).filter((v) => v.image).map((v) => ({ step: e.step, ...v.image! })),
    )
    assert.deepEqual(
      images.map((i) => i.step),
      [2 * batches, 3 * batches],
    )
    for (const image of images) {
      assert.equal(image.colorspace, 3)
      const png = Buffer.from(image.png, 'base64')
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG')
      const decoded = await decodePatch(png)
      assert.deepEqual([decoded.width, decoded.height], [image.width, image.height])
      // 16 patches of 96 px beside their overlays, 4 to a row: larger than one patch each way.
      assert.ok(
        image.width >= 4 * 2 * 96 && image.height >= 4 * 96,
        `${image.width}x${image.height}`,
      )
    }
  })

  it('closes a stopped fit with whole records, and a resumed one adds a file that carries the steps on', async () => {
    const dir = join(root, 'resumed', 'tensorboard')
    const stopAt = 8 // the third batch of the second epoch
    let stepsDone = 0
    const stop: Callback = {
      afterBatch(learn) {
        if (learn.training && ++stepsDone === stopAt) throw new CancelFit()
      },
    }
    const { learn, config, dispose } = learnerOn(store, { callbacks: [stop] })
    let first: TensorBoardLogger
    let second: TensorBoardLogger
    try {
      first = new TensorBoardLogger(dir, {
        pictures: { 'valid/top_losses': fitTopLosses({ config }) },
      })
      learn.addCallback(first)
      assert.equal(await learn.fitOneCycle(2, 1e-2), false)
      assert.deepEqual(learn.stoppedAt && [learn.stoppedAt.epoch, learn.stoppedAt.batch], [1, 3])
      // A new process's logger, resuming where the fit stopped.
      learn.removeCallback(first)
      second = new TensorBoardLogger(dir, {
        pictures: { 'valid/top_losses': fitTopLosses({ config }) },
      })
      learn.addCallback(second)
      assert.equal(await learn.fitOneCycle(2, 1e-2, { from: learn.stoppedAt! }), true)
    } finally {
      dispose()
    }
    assert.notEqual(first.path, second.path)
    assert.deepEqual(
      readdirSync(dir).sort(),
      [first.path, second.path].map((p) => p!.slice(dir.length + 1)).sort(),
    )
    const [stopped, resumed] = decode([first.path!, second.path!]) as {
      events: DecodedEvent[]
    }[]
    assert.equal(stopped!.events[0]?.file_version, FILE_VERSION)
    assert.equal(resumed!.events[0]?.file_version, FILE_VERSION)
    assert.deepEqual(
      scalars(stopped!.events, 'train/loss').map(([s]) => s),
      [1, 2, 3, 4, 5, 6, 7, 8],
    )
    assert.deepEqual(
      scalars(stopped!.events, 'valid/auc').map(([s]) => s),
      [5],
    )
    // No picture for a fit stopped mid-epoch; the resumed one ends with one.
    assert.equal(stopped!.events.filter((e) => e.values?.some((v) => v.image)).length, 0)
    assert.deepEqual(
      scalars(resumed!.events, 'train/loss').map(([s]) => s),
      [9, 10],
    )
    assert.deepEqual(
      scalars(resumed!.events, 'valid/auc').map(([s]) => s),
      [10],
    )
    assert.deepEqual(
      resumed!.events.filter((e) => e.values?.some((v) => v.image)).map((e) => e.step),
      [10],
    )
  })
})
