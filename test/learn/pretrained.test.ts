// ImageNet weights from the registry, as torchvision publishes them: a .pth file written by
// PyTorch (here torchvision's own resnet18 and mobilenet_v2, saved by Debian's python3-torch),
// served by a local mirror, checked against the SHA-256 prefix its name carries, converted to
// safetensors once, cached, and loaded into the backbone with every name checked.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { torchPython } from '../../src/bench/python.js'
import { loadPretrained } from '../../src/recipe/setup.js'
import { createModel } from '../../src/models/registry.js'
import { ZipFile } from 'yazl'
import { DataError } from '../../src/errors.js'
import { asSafetensors, fetchPretrained, type PretrainedEntry } from '../../src/weights/registry.js'
import { readSafetensors } from '../../src/weights/safetensors.js'
import { readTorchCheckpoint } from '../../src/weights/torch-checkpoint.js'
import { tempDir } from '../helpers/temp-dir.js'

const dir = tempDir('pretrained')
mkdirSync(join(dir, 'other'))
let server: Server
let hits = 0
let corrupt = false
const entries: PretrainedEntry[] = []

before(async () => {
  // torchvision's architectures with seeded weights, saved the way torchvision's files are.
  const save = spawnSync(
    torchPython(),
    [
      '-c',
      'import sys, torch, torchvision\n' +
        'torch.manual_seed(9)\n' +
        'torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])\n' +
        'torch.save(torchvision.models.mobilenet_v2().state_dict(), sys.argv[2])\n' +
        'torch.manual_seed(10)\n' +
        'torch.save(torchvision.models.resnet18().state_dict(), sys.argv[3])\n',
      join(dir, 'resnet18-test.pth'),
      join(dir, 'mobilenet_v2-test.pth'),
      join(dir, 'other', 'resnet18-test.pth'),
    ],
    { encoding: 'utf8' },
  )
  assert.equal(save.status, 0, save.stderr)
  for (const [arch, file] of [
    ['resnet18', 'resnet18-test.pth'],
    ['mobilenet_v2', 'mobilenet_v2-test.pth'],
  ] as const) {
    const sha256 = createHash('sha256')
      .update(readFileSync(join(dir, file)))
      .digest('hex')
    entries.push({
      arch,
      file,
      url: `unused/${file}`,
      sha256Prefix: sha256.slice(0, 8),
      source: 'test',
    })
  }
  server = createServer((req, res) => {
    hits++
    try {
      const data = readFileSync(join(dir, (req.url ?? '').slice(1)))
      res.end(corrupt ? Buffer.alloc(data.length, 0) : data)
    } catch {
      res.writeHead(404).end() // a missing file is a 404 for the client
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.env.PCAM_WEIGHTS_MIRROR = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  process.env.PCAM_CACHE = join(dir, 'cache')
})
after(() => {
  server.close()
  delete process.env.PCAM_WEIGHTS_MIRROR
  delete process.env.PCAM_CACHE
})

describe('pretrained weights', () => {
  it('downloads a torchvision .pth once, converts it, and loads it into the backbone', async () => {
    const path = await fetchPretrained('resnet18', { entries })
    assert.equal(path, join(dir, 'cache', 'resnet18-test.safetensors'))
    await fetchPretrained('resnet18', { entries })
    assert.equal(hits, 1, 'the second call uses the cache')
    const model = createModel({ arch: 'resnet18', numClasses: 1, head: 'concat' })
    loadPretrained(model, path)
    const published = await readTorchCheckpoint(join(dir, 'resnet18-test.pth'))
    const body = model.body.stateDict()
    for (const name of [
      'conv1.weight',
      'layer4.1.bn2.running_var',
      'layer3.0.downsample.0.weight',
    ]) {
      assert.deepEqual(body.get(name)!.toArray(), published.get(name)!.toArray(), name)
    }
    assert.equal(published.get('layer1.0.bn1.num_batches_tracked')!.dtype, 'int64')
  })

  it('torchvision MobileNetV2 loads into pcam mobilenet_v2 by every name', async () => {
    const path = await fetchPretrained('mobilenet_v2', { entries })
    const model = createModel({ arch: 'mobilenet_v2', numClasses: 1, head: 'linear' })
    loadPretrained(model, path) // throws on any missing or unexpected name
    const published = await readTorchCheckpoint(join(dir, 'mobilenet_v2-test.pth'))
    assert.deepEqual(
      model.body.stateDict().get('features.18.1.running_mean')!.toArray(),
      published.get('features.18.1.running_mean')!.toArray(),
    )
  })

  it('a transfer whose SHA-256 does not start as its name says is deleted, not cached', async () => {
    const cache = process.env.PCAM_CACHE!
    process.env.PCAM_CACHE = join(dir, 'cache-corrupt')
    corrupt = true
    try {
      await assert.rejects(
        fetchPretrained('resnet18', { entries }),
        /resnet18-test\.pth: SHA256 [0-9a-f]{64} does not start with the published [0-9a-f]{8}/,
      )
      assert.ok(!existsSync(join(dir, 'cache-corrupt', 'resnet18-test.pth')))
      assert.ok(!existsSync(join(dir, 'cache-corrupt', 'resnet18-test.pth.part')))
    } finally {
      corrupt = false
      process.env.PCAM_CACHE = cache
      rmSync(join(dir, 'cache-corrupt'), { recursive: true, force: true })
    }
  })

  it('weights of another architecture are refused with the names that do not fit', async () => {
    const model = createModel({ arch: 'resnet34', numClasses: 1, head: 'linear' })
    assert.throws(
      () => loadPretrained(model, join(dir, 'cache', 'resnet18-test.safetensors')),
      /does not fit resnet34: missing layer1\.2\.conv1\.weight/,
    )
  })

  it("the registry holds torchvision's addresses; an unregistered architecture says what to do", async () => {
    const { PRETRAINED } = await import('../../src/weights/registry.js')
    for (const e of PRETRAINED) {
      assert.match(e.url, /^https:\/\/download\.pytorch\.org\/models\/[a-z0-9_]+-[0-9a-f]{8}\.pth$/)
      assert.ok(e.url.endsWith(`-${e.sha256Prefix}.pth`), e.url)
    }
    await assert.rejects(
      fetchPretrained('small'),
      /No ImageNet weights are registered for small.*--pretrained <file\.safetensors>/,
    )
  })

  it('a file that is not a zip-format PyTorch checkpoint is refused with a reason', async () => {
    writeFileSync(join(dir, 'legacy.pth'), Buffer.from('\x80\x02not a zip'))
    await assert.rejects(
      readTorchCheckpoint(join(dir, 'legacy.pth')),
      /not a zip-format PyTorch checkpoint/,
    )
  })
})

describe('malformed weight files', () => {
  /** A zip like torch.save's holding the given pickle bytes. */
  async function pthWith(name: string, pickle: Buffer): Promise<string> {
    const zip = new ZipFile()
    zip.addBuffer(pickle, 'archive/data.pkl')
    zip.end()
    const path = join(dir, name)
    await new Promise<void>((resolve, reject) =>
      zip.outputStream.pipe(createWriteStream(path)).on('close', resolve).on('error', reject),
    )
    return path
  }
  const bytes = (text: string) => Buffer.from(text, 'latin1')

  it('a .pth whose pickle has unexpected operands is a clear error naming the file', async () => {
    const cases = [
      // REDUCE on a number instead of an argument tuple
      bytes('\x80\x02ctorch._utils\n_rebuild_tensor_v2\nK\x05R.'),
      // a persistent id that is not a tuple
      bytes('\x80\x02K\x05Q.'),
      // a tensor whose shape is a string
      bytes(
        '\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(ctorch\nFloatStorage\nX\x01\x00\x00\x00k\x85QK\x00X\x01\x00\x00\x00s)t\x85R.',
      ),
      // an opcode a state dict never uses
      bytes('\x80\x02\xff.'),
    ]
    for (const [k, pickle] of cases.entries()) {
      const path = await pthWith(`bad-${k}.pth`, pickle)
      await assert.rejects(readTorchCheckpoint(path), (error: Error) => {
        assert.ok(error instanceof DataError, `${k}: ${error.name}: ${error.message}`)
        assert.ok(error.message.includes(path), error.message)
        return true
      })
    }
  })

  it('safetensors entries that are null, lack offsets or lie about sizes are refused by name', () => {
    const file = (header: unknown, data = Buffer.alloc(8)) => {
      const json = Buffer.from(JSON.stringify(header))
      const head = Buffer.alloc(8)
      head.writeBigUInt64LE(BigInt(json.length))
      const path = join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`)
      writeFileSync(path, Buffer.concat([head, json, data]))
      return path
    }
    for (const header of [
      { w: null },
      { w: { dtype: 'F32', shape: [2] } },
      { w: { dtype: 'F32', shape: 'x', data_offsets: [0, 8] } },
      { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } },
      { __metadata__: null },
      [1, 2],
      null,
    ]) {
      const path = file(header)
      assert.throws(
        () => readSafetensors(path),
        (error: Error) =>
          error instanceof DataError &&
          error.message.startsWith(`${path} is not a valid safetensors file`),
        JSON.stringify(header),
      )
    }
  })

  it('two .pth files of the same name convert to their own weights', async () => {
    const first = await asSafetensors(join(dir, 'resnet18-test.pth'))
    const second = await asSafetensors(join(dir, 'other', 'resnet18-test.pth'))
    assert.notEqual(first, second)
    const a = readSafetensors(first).tensors.get('conv1.weight')!.toArray()
    const b = readSafetensors(second).tensors.get('conv1.weight')!.toArray()
    const published = (await readTorchCheckpoint(join(dir, 'other', 'resnet18-test.pth')))
      .get('conv1.weight')!
      .toArray()
    assert.notDeepEqual(a, b)
    assert.deepEqual(b, published)
  })
})
