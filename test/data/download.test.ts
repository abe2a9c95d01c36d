// Downloads against a local HTTP server that serves files the test makes: the file list with MD5
// sums, resume of a partial file with Range, a corrupted transfer caught by its checksum, and the
// Kaggle API's basic authentication.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  basicAuth,
  downloadFile,
  kaggleCredentials,
  kaggleFiles,
  pcamFiles,
} from '../../src/data/download.js'
import { ConfigError, DataError } from '../../src/errors.js'
import { tempDir } from '../helpers/temp-dir.js'

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')
const files: Record<string, Buffer> = {
  'camelyonpatch_level_2_split_valid_x.h5.gz': Buffer.alloc(200_000, 7),
  'camelyonpatch_level_2_split_valid_y.h5.gz': Buffer.from('labels'),
  'camelyonpatch_level_2_split_test_x.h5.gz': Buffer.from('test pixels'),
  'histopathologic-cancer-detection.zip': Buffer.from('zip bytes'),
}
const requests: { url: string; range?: string; auth?: string }[] = []
let corrupt = false
let server: Server
let base = ''

before(async () => {
  server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '').split('?')[0]!.slice(1))
    requests.push({ url: name, range: req.headers.range, auth: req.headers.authorization })
    if (name === 'record.json') {
      const list = Object.entries(files)
        .filter(([key]) => key.startsWith('camelyon'))
        .map(([key, data]) => ({
          key,
          size: data.length,
          checksum: `md5:${md5(data)}`,
          links: { self: `${base}/${key}` },
        }))
      res.end(JSON.stringify({ files: list }))
      return
    }
    if (
      name === 'private.zip' &&
      req.headers.authorization !== basicAuth('ann', 's3cret').Authorization
    ) {
      res.writeHead(401).end()
      return
    }
    const data =
      name === 'private.zip' ? files['histopathologic-cancer-detection.zip'] : files[name]
    if (!data) {
      res.writeHead(404).end()
      return
    }
    const body = corrupt ? Buffer.alloc(data.length, 1) : data
    // As the Hugging Face hub does for its files: the SHA-256 in X-Linked-Etag.
    res.setHeader('X-Linked-Etag', `"${createHash('sha256').update(data).digest('hex')}"`)
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '')
    if (range) {
      const start = Number(range[1])
      res.writeHead(206, { 'Content-Length': data.length - start }).end(body.subarray(start))
    } else {
      res.writeHead(200, { 'Content-Length': data.length }).end(body)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  base = `http://127.0.0.1:${address.port}`
})
after(() => server.close())

describe('download', () => {
  it('reads the PCam file list with sizes and MD5 sums, filtered by split', async () => {
    const list = await pcamFiles({ mirror: base, splits: ['valid'] })
    assert.deepEqual(list.map((f) => f.name).sort(), [
      'camelyonpatch_level_2_split_valid_x.h5.gz',
      'camelyonpatch_level_2_split_valid_y.h5.gz',
    ])
    assert.equal(list[0]!.md5?.length, 32)
  })

  it('downloads, verifies, and does not fetch a verified file again', async () => {
    const dir = tempDir('dl')
    const [file] = await pcamFiles({ mirror: base, splits: ['test'] })
    const path = await downloadFile(file!, dir)
    assert.ok(readFileSync(path).equals(files['camelyonpatch_level_2_split_test_x.h5.gz']!))
    const before = requests.length
    await downloadFile(file!, dir)
    assert.equal(requests.length, before)
  })

  it('resumes a partial download with an HTTP Range request', async () => {
    const dir = tempDir('dl')
    const file = (await pcamFiles({ mirror: base })).find((f) => f.name.includes('valid_x'))!
    const data = files[file.name]!
    writeFileSync(join(dir, `${file.name}.part`), data.subarray(0, 50_000))
    const path = await downloadFile(file, dir)
    assert.equal(requests.at(-1)!.range, 'bytes=50000-')
    assert.ok(readFileSync(path).equals(data))
    assert.ok(!existsSync(`${path}.part`))
  })

  it('a transfer that does not match its MD5 is deleted with a message naming the file', async () => {
    const dir = tempDir('dl')
    const file = (await pcamFiles({ mirror: base })).find((f) => f.name.includes('valid_y'))!
    corrupt = true
    try {
      await assert.rejects(
        downloadFile(file, dir),
        (e: unknown) =>
          e instanceof DataError && /valid_y\.h5\.gz: MD5 .* does not match/.test(e.message),
      )
    } finally {
      corrupt = false
    }
    assert.ok(!existsSync(join(dir, file.name)) && !existsSync(join(dir, `${file.name}.part`)))
  })

  it("a host's X-Linked-Etag SHA-256 is checked too", async () => {
    const dir = tempDir('dl')
    const file = {
      name: 'histopathologic-cancer-detection.zip',
      url: `${base}/histopathologic-cancer-detection.zip`,
    }
    corrupt = true
    try {
      await assert.rejects(
        downloadFile(file, dir),
        /histopathologic-cancer-detection\.zip: SHA256 [0-9a-f]{64} does not match the published/,
      )
    } finally {
      corrupt = false
    }
    assert.equal(await downloadFile(file, dir), join(dir, file.name))
  })

  it('Kaggle: credentials from kaggle.json, a clear message when it is missing, basic auth on the request', async () => {
    const home = tempDir('home')
    const saved = [process.env.KAGGLE_USERNAME, process.env.KAGGLE_KEY]
    delete process.env.KAGGLE_USERNAME
    delete process.env.KAGGLE_KEY
    try {
      assert.throws(
        () => kaggleCredentials(home),
        (e: unknown) =>
          e instanceof ConfigError &&
          /kaggle\.json is missing\. Create an API token/.test(e.message),
      )
      mkdirSync(join(home, '.kaggle'))
      writeFileSync(
        join(home, '.kaggle', 'kaggle.json'),
        JSON.stringify({ username: 'ann', key: 's3cret' }),
      )
      const { username, key } = kaggleCredentials(home)
      const dir = tempDir('dl')
      const [file] = kaggleFiles({ mirror: base })
      await downloadFile({ ...file!, url: `${base}/private.zip` }, dir, {
        headers: basicAuth(username, key),
      })
      assert.ok(existsSync(join(dir, 'histopathologic-cancer-detection.zip')))
      await assert.rejects(
        downloadFile({ ...file!, name: 'other.zip', url: `${base}/private.zip` }, dir, {
          headers: basicAuth('ann', 'wrong'),
        }),
        /refused the credentials \(HTTP 401\)/,
      )
    } finally {
      if (saved[0] !== undefined) process.env.KAGGLE_USERNAME = saved[0]
      if (saved[1] !== undefined) process.env.KAGGLE_KEY = saved[1]
    }
  })

  it('an unreachable host says to check the network or use --mirror', async () => {
    await assert.rejects(
      downloadFile({ name: 'x', url: 'http://127.0.0.1:9/x' }, tempDir('dl')),
      /Cannot reach .*Check the network or use --mirror/,
    )
  })
})
