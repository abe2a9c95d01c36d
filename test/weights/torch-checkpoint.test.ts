/**
 * Crafted .pth files that used to hang the reader, abort Node or fill memory: each is read in a
 * child process with a time limit and a small heap, so a regression fails the test instead of
 * hanging or killing the test runner.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ZipFile } from 'yazl'
import { DataError } from '../../src/errors.js'
import { PICKLE_LIMITS, readTorchCheckpoint } from '../../src/weights/torch-checkpoint.js'
import { tempDir } from '../helpers/temp-dir.js'

const dir = tempDir('torch-checkpoint')
const READER = fileURLToPath(new URL('../../src/weights/torch-checkpoint.js', import.meta.url))

/** `count` bytes of `byte`, made as they are read: a bomb's contents never sit in memory here. */
function repeated(byte: number, count: number): Readable {
  const chunk = Buffer.alloc(1 << 20, byte)
  let left = count
  return new Readable({
    read() {
      const n = Math.min(left, chunk.length)
      left -= n
      this.push(n > 0 ? chunk.subarray(0, n) : null)
    },
  })
}

/** A zip laid out as torch.save's, each entry a buffer or a stream (deflated). */
async function pth(name: string, entries: Record<string, Buffer | Readable>): Promise<string> {
  const zip = new ZipFile()
  for (const [entry, data] of Object.entries(entries)) {
    if (Buffer.isBuffer(data)) zip.addBuffer(data, `archive/${entry}`)
    else zip.addReadStream(data, `archive/${entry}`)
  }
  zip.end()
  const path = join(dir, name)
  await new Promise<void>((resolve, reject) =>
    zip.outputStream.pipe(createWriteStream(path)).on('close', resolve).on('error', reject),
  )
  return path
}

/**
 * Reads `path` in a child (60 s, 256 MB heap) and returns its error message and peak resident
 * memory. 60 s is a ceiling for a hang, not a speed goal: a refusal takes milliseconds.
 */
function readInChild(path: string): { message: string; name: string; maxRssMiB: number } {
  const script =
    `const { readTorchCheckpoint } = await import(${JSON.stringify(READER)})\n` +
    'let outcome\n' +
    `try { await readTorchCheckpoint(${JSON.stringify(path)}); outcome = { name: 'none', message: '' } }\n` +
    'catch (error) { outcome = { name: error.name, message: error.message } }\n' +
    'outcome.maxRssMiB = process.resourceUsage().maxRSS / 1024\n' +
    'console.log(JSON.stringify(outcome))\n'
  const child = spawnSync(
    process.execPath,
    ['--max-old-space-size=256', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 60_000 },
  )
  assert.equal(child.signal, null, `the reader was killed (${child.signal}): it hung`)
  assert.equal(child.status, 0, `the reader crashed: ${child.stderr.slice(-2000)}`)
  return JSON.parse(child.stdout)
}

describe('crafted PyTorch checkpoints', () => {
  it('a GLOBAL whose name has no newline is refused instead of parsed again from byte 0', async () => {
    const path = await pth('no-newline.pth', {
      'data.pkl': Buffer.from('\x80\x02ctorch', 'latin1'),
    })
    const outcome = readInChild(path)
    assert.equal(outcome.name, 'DataError')
    assert.match(outcome.message, /ends inside a GLOBAL/)
    assert.ok(outcome.message.includes(path), outcome.message)
  })

  it('a pickle inflating past its cap is refused while it inflates', async () => {
    // 150 million NONE opcodes deflate to ~150 KB; interpreting them aborted Node.
    const path = await pth('none-bomb.pth', { 'data.pkl': repeated(0x4e, 150_000_000) })
    const outcome = readInChild(path)
    assert.equal(outcome.name, 'DataError')
    assert.match(outcome.message, /data\.pkl/)
    assert.ok(outcome.maxRssMiB < 512, `peak ${outcome.maxRssMiB} MiB`)
  })

  it('a pickle under the byte cap that builds too many values is refused', async () => {
    const deep = Buffer.alloc(PICKLE_LIMITS.stack + 1, 0x4e) // NONE, NONE, ...
    // One list, then EMPTY_LIST + APPEND until more values than the cap, in 4 MB.
    const wide = Buffer.from(']' + ']a'.repeat(PICKLE_LIMITS.values), 'latin1')
    for (const [name, pickle, why] of [
      ['deep.pth', deep, /nests deeper/],
      ['wide.pth', wide, /builds more than/],
    ] as const) {
      const path = await pth(name, { 'data.pkl': pickle })
      const outcome = readInChild(path)
      assert.equal(outcome.name, 'DataError', outcome.message)
      assert.match(outcome.message, why)
    }
  })

  it('a storage inflating past what its tensor needs is refused while it inflates', async () => {
    // A 2-element float tensor whose storage inflates to 1.5 GB of zeros from ~1.5 MB.
    const pickle = Buffer.from(
      '\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02(' +
        '(X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x02tq\x07Q' +
        'K\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rq\x08tq\x09Rq\x0as.',
      'latin1',
    )
    const path = await pth('storage-bomb.pth', {
      'data.pkl': pickle,
      'data/0': repeated(0, 1_500_000_000),
    })
    const outcome = readInChild(path)
    assert.equal(outcome.name, 'DataError', outcome.message)
    assert.match(outcome.message, /archive\/data\/0/)
    assert.ok(outcome.maxRssMiB < 512, `peak ${outcome.maxRssMiB} MiB`)
  })

  it('a corrupt zip leaves no file descriptor open, however often it is read', async () => {
    const good = await pth('good.pth', { 'data.pkl': Buffer.from('\x80\x02}q\x00.', 'latin1') })
    // The central directory names one entry more than the zip holds: the listing fails midway.
    const bytes = readFileSync(good)
    const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
    bytes.writeUInt16LE(bytes.readUInt16LE(end + 8) + 1, end + 8)
    bytes.writeUInt16LE(bytes.readUInt16LE(end + 10) + 1, end + 10)
    const corrupt = join(dir, 'corrupt.pth')
    writeFileSync(corrupt, bytes)
    const open = () => readdirSync('/proc/self/fd').length
    const before = open()
    for (let k = 0; k < 50; k++) await assert.rejects(readTorchCheckpoint(corrupt), DataError)
    assert.ok(open() - before < 5, `${open() - before} descriptors left open by 50 failed reads`)
  })
})
