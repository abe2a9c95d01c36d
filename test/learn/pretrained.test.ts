// ImageNet weights from the registry: downloaded into the cache from a local mirror (no network
// here), reused from the cache, and loaded into the backbone with every name checked.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadPretrained } from '../../src/learn/train.js'
import { createModel } from '../../src/models/registry.js'
import { resnet18 } from '../../src/models/resnet.js'
import * as t from '../../src/torch/index.js'
import { fetchPretrained } from '../../src/weights/registry.js'
import { writeSafetensors } from '../../src/weights/safetensors.js'

const dir = mkdtempSync(join(tmpdir(), 'pcam-pretrained-'))
let server: Server
let hits = 0
let corrupt = false

before(async () => {
  // What timm publishes for resnet18: torchvision's names, a 1000-class fc, no batch counters.
  t.manualSeed(9)
  const published = resnet18(1000)
  const state = new Map(
    [...published.stateDict()].filter(([k]) => !k.endsWith('num_batches_tracked')),
  )
  await writeSafetensors(join(dir, 'resnet18.a1_in1k.safetensors'), state)
  server = createServer((req, res) => {
    hits++
    try {
      // As the Hugging Face hub does: the LFS file's SHA-256 in X-Linked-Etag.
      const data = readFileSync(join(dir, (req.url ?? '').slice(1)))
      const sha256 = createHash('sha256').update(data).digest('hex')
      res.setHeader('X-Linked-Etag', `"${sha256}"`)
      res.end(corrupt ? Buffer.alloc(data.length, 0) : data)
    } catch {
      res.writeHead(404).end() // best effort: a missing file is a 404 for the client
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
  it('downloads resnet18 into the cache once and loads it into the backbone', async () => {
    const path = await fetchPretrained('resnet18')
    assert.equal(path, join(dir, 'cache', 'resnet18.a1_in1k.safetensors'))
    await fetchPretrained('resnet18')
    assert.equal(hits, 1, 'the second call uses the cache')
    const model = createModel({ arch: 'resnet18', numClasses: 1, head: 'concat' })
    loadPretrained(model, path)
    t.manualSeed(9)
    const reference = resnet18(1000)
    const body = model.body.stateDict()
    for (const name of [
      'conv1.weight',
      'layer4.1.bn2.running_var',
      'layer3.0.downsample.0.weight',
    ]) {
      assert.deepEqual(body.get(name)!.toArray(), reference.stateDict().get(name)!.toArray(), name)
    }
  })

  it("a transfer that does not match the hub's SHA-256 is deleted, not cached", async () => {
    const cache = process.env.PCAM_CACHE!
    process.env.PCAM_CACHE = join(dir, 'cache-corrupt')
    corrupt = true
    try {
      await assert.rejects(
        fetchPretrained('resnet18'),
        /resnet18\.a1_in1k\.safetensors: SHA256 [0-9a-f]{64} does not match the published/,
      )
      assert.ok(!existsSync(join(dir, 'cache-corrupt', 'resnet18.a1_in1k.safetensors')))
      assert.ok(!existsSync(join(dir, 'cache-corrupt', 'resnet18.a1_in1k.safetensors.part')))
    } finally {
      corrupt = false
      process.env.PCAM_CACHE = cache
      rmSync(join(dir, 'cache-corrupt'), { recursive: true, force: true })
    }
  })

  it('weights of another architecture are refused with the names that do not fit', async () => {
    const model = createModel({ arch: 'resnet34', numClasses: 1, head: 'linear' })
    assert.throws(
      () => loadPretrained(model, join(dir, 'cache', 'resnet18.a1_in1k.safetensors')),
      /does not fit resnet34: missing layer1\.2\.conv1\.weight/,
    )
  })

  it('an architecture without registered weights says what to do', async () => {
    await assert.rejects(
      fetchPretrained('mobilenet_v2'),
      /No ImageNet weights are registered for mobilenet_v2.*--pretrained <file\.safetensors>/,
    )
  })
})
