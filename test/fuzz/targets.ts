/**
 * Every parser of bytes a user or a client hands pcam, as a fuzz target: valid seeds (made here
 * by pcam's own writers, or kept in test/fixtures/fuzz-corpus/<target>/ with every finding), and the call
 * that parses one input. The property each must hold is the harness's: a clean error (naming the
 * file where the parser is given one), never a hang, a crash, a runaway allocation or a silent
 * wrong result.
 * @module
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import sharp from 'sharp'
import yazl from 'yazl'
import { readCsv, writeCsv } from '../../src/data/csv.js'
import { decodePatch, readImageHeader } from '../../src/data/decode.js'
import { parseKaggleLabels } from '../../src/data/sources/kaggle.js'
import { readPlainRgbTiff } from '../../src/data/tiff.js'
import { FolderTree, ZipTree } from '../../src/data/tree.js'
import { pcamHdf5Source } from '../../src/data/sources/pcam-hdf5.js'
import { DataError } from '../../src/errors.js'
import { onnxModelInfo } from '../../src/export/onnx-engine.js'
import { encodeModel, DataType } from '../../src/export/onnx-proto.js'
import { errorAnswer } from '../../src/serve/http-errors.js'
import { readUploads, toPatch } from '../../src/serve/uploads.js'
import { readAnnotations } from '../../src/slide/annotations.js'
import { valueInfo } from '../helpers/onnx-model.js'
import { tensor } from '../../src/torch/index.js'
import { readSafetensors, writeSafetensors } from '../../src/weights/safetensors.js'
import { readTorchCheckpoint, unpickle } from '../../src/weights/torch-checkpoint.js'

export interface FuzzTarget {
  /** The input's file extension: each input is also written to a file of that name. */
  ext: string
  /** Whether errors must name the file (parsers given a path or a name do; byte decoders don't). */
  namesFile: boolean
  /** Valid inputs made by pcam's writers; the corpus folder's files are added to them. */
  seeds(scratch: string): Promise<Buffer[]>
  /** Parses one input; throws what the parser throws. */
  parse(bytes: Buffer, path: string): Promise<void>
}

function pixels(width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 3)
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + (i >> 5) * 11) & 0xff
  return out
}

const raw = (width: number, height: number) =>
  sharp(pixels(width, height), { raw: { width, height, channels: 3 } })

function zipOf(entries: Record<string, Buffer>, compress = true): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const [name, bytes] of Object.entries(entries)) zip.addBuffer(bytes, name, { compress })
  zip.end()
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c))
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)))
    zip.outputStream.on('error', reject)
  })
}

/** A minimal ModelProto with pcam's metadata and uint8 input, as an export writes them. */
function pcamOnnx(classes: string): Buffer {
  const info = valueInfo
  return Buffer.from(
    encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'pcam',
      producerVersion: '0.1.0',
      graph: {
        name: 'g',
        node: [
          {
            name: 'n',
            opType: 'Cast',
            input: ['images'],
            output: ['probabilities'],
            attribute: [],
          },
        ],
        initializer: [
          { name: 'w', dims: [2], dataType: DataType.FLOAT, rawData: new Uint8Array(8) },
        ],
        input: [info('images', DataType.UINT8, ['N', 96, 96, 3])],
        output: [info('probabilities', DataType.FLOAT, ['N', 2])],
      },
      metadataProps: [
        { key: 'pcam_version', value: '0.1.0' },
        { key: 'patch_size', value: '96' },
        { key: 'classes', value: classes },
      ],
    }),
  )
}

const BOUNDARY = 'pcamfuzzboundary'
function multipartBody(files: { name: string; bytes: Buffer }[]): Buffer {
  const parts = files.map(({ name, bytes }) =>
    Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      bytes,
      Buffer.from('\r\n'),
    ]),
  )
  return Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)])
}

let uploadServer: FastifyInstance | null = null
/** The server's upload path (body limits, multipart parsing, header checks, decoding). */
async function uploadApp(): Promise<FastifyInstance> {
  if (uploadServer) return uploadServer
  const app = Fastify({ bodyLimit: 1 << 20 })
  await app.register(multipart, { limits: { fileSize: 1 << 20, files: 8, parts: 16 } })
  app.setErrorHandler((error, _request, reply) => {
    const answer = errorAnswer(error, 'too large')
    return reply.status(answer.status).headers(answer.headers).send(answer.body)
  })
  app.post('/upload', async (request) => {
    const uploads = await readUploads(request, 1 << 20)
    for (const upload of uploads) await toPatch(upload, 32, true)
    return { count: uploads.length }
  })
  await app.ready()
  uploadServer = app
  return app
}

const H5_X = 'camelyonpatch_level_2_split_valid_x.h5'
const H5_Y = 'camelyonpatch_level_2_split_valid_y.h5'
/** A PCam-shaped HDF5 file (a dataset of uint8), small enough that its bytes are mostly structure. */
async function hdf5File(path: string, name: string, shape: number[]): Promise<Buffer> {
  const h5 = await import('h5wasm/node')
  await h5.ready
  const file = new h5.File(path, 'w')
  const count = shape.reduce((a, b) => a * b, 1)
  file.create_dataset({
    name,
    data: new Uint8Array(count).map((_, i) => i % 2),
    shape,
    dtype: '<B',
  })
  file.close()
  return readFileSync(path)
}

export const TARGETS: Record<string, FuzzTarget> = {
  pickle: {
    ext: 'pkl',
    namesFile: true,
    seeds: async () => [],
    parse: async (bytes, path) => void unpickle(bytes, path),
  },
  pth: {
    ext: 'pth',
    namesFile: true,
    seeds: async () => [],
    parse: async (_bytes, path) => {
      for (const tensor of (await readTorchCheckpoint(path)).values()) tensor.dispose()
    },
  },
  safetensors: {
    ext: 'safetensors',
    namesFile: true,
    seeds: async (scratch) => {
      const path = `${scratch}/seed.safetensors`
      const tensors = new Map([
        [
          'conv.weight',
          tensor([
            [1, 2, 3],
            [4, 5, 6],
          ]),
        ],
        ['bn.num_batches_tracked', tensor([7], { dtype: 'int64' })],
      ])
      await writeSafetensors(path, tensors, { format: 'pt' })
      for (const t of tensors.values()) t.dispose()
      return [readFileSync(path)]
    },
    parse: async (_bytes, path) => {
      for (const tensor of readSafetensors(path).tensors.values()) tensor.dispose()
    },
  },
  onnx: {
    ext: 'onnx',
    namesFile: true,
    seeds: async () => [pcamOnnx('["normal","tumor"]'), pcamOnnx('["a","b","c"]')],
    parse: async (bytes, path) => {
      const info = onnxModelInfo(bytes, path)
      assert.ok(info.classes.length >= 2 && info.classes.every((c) => typeof c === 'string'))
      assert.ok(Number.isFinite(info.patchSize))
    },
  },
  'tiff-fast-path': {
    ext: 'tif',
    namesFile: false,
    seeds: async () => [
      await raw(8, 6).tiff({ compression: 'none' }).toBuffer(),
      await raw(3, 17).tiff({ compression: 'none' }).toBuffer(),
    ],
    parse: async (bytes) => {
      const plain = readPlainRgbTiff(bytes)
      // The fast path's promise: pixels exactly as many as it says, and never more than the file.
      if (plain) {
        assert.equal(plain.pixels.length, plain.width * plain.height * 3)
        assert.ok(plain.pixels.length <= bytes.length)
      }
    },
  },
  image: {
    ext: 'img',
    namesFile: false,
    seeds: async () => [
      await raw(12, 9).png().toBuffer(),
      await raw(16, 16).jpeg({ quality: 80 }).toBuffer(),
      await raw(16, 16).jpeg({ progressive: true }).toBuffer(),
      await raw(5, 7).tiff({ compression: 'lzw' }).toBuffer(),
      await raw(6, 6).tiff({ compression: 'none' }).toBuffer(),
    ],
    parse: async (bytes) => {
      const limit = 4096 * 4096
      const header = await readImageHeader(bytes, { maxPixels: limit })
      assert.ok(header.width * header.height <= limit)
      const patch = await decodePatch(bytes, { maxPixels: limit, resizeTo: 8 })
      assert.equal(patch.pixels.length, 8 * 8 * 3)
    },
  },
  zip: {
    ext: 'zip',
    namesFile: true,
    seeds: async () => [
      await zipOf({
        'train/a.tif': pixels(4, 4),
        'train_labels.csv': Buffer.from('id,label\na,1\n'),
      }),
      await zipOf({ 'x/y/z.png': await raw(4, 4).png().toBuffer() }, false),
    ],
    parse: async (_bytes, path) => {
      const zip = await ZipTree.open([path])
      try {
        for (const file of await zip.files()) {
          const bytes = await zip.read(file, { bytes: 1 << 20, what: 'a fuzzed entry' })
          assert.ok(bytes.length <= 1 << 20)
        }
      } finally {
        await zip.close()
      }
    },
  },
  csv: {
    ext: 'csv',
    namesFile: true,
    seeds: async () => [
      Buffer.from(
        writeCsv(
          ['id', 'label'],
          [
            ['f38a6374c348f90b587e046aac6079959adf3835', 0],
            ['c18f2d887b7ae4f6742ee445113fa1aef383ed77', 1],
          ],
        ),
      ),
      Buffer.from('\ufeffid,label\r\n"a,b",1\r\n"say ""x""",0\r\n\r\nc\n'),
    ],
    parse: async (bytes, path) => {
      const text = bytes.toString('utf8')
      readCsv(text, path)
      const { labels, problems } = parseKaggleLabels(text, path)
      for (const label of labels.values()) assert.ok(label === 0 || label === 1)
      for (const problem of problems) assert.ok(problem.location.includes(path))
    },
  },
  hdf5: {
    ext: 'h5',
    namesFile: false, // checked below: errors name the split's _x.h5, not the input file
    seeds: async (scratch) => {
      const folder = join(scratch, 'h5')
      mkdirSync(folder, { recursive: true })
      await hdf5File(join(folder, H5_Y), 'y', [2, 1, 1, 1])
      return [await hdf5File(join(scratch, 'seed.h5'), 'x', [2, 8, 8, 3])]
    },
    // The mutated bytes are the valid split's _x.h5, beside a valid _y.h5; every patch is read.
    parse: async (bytes, path) => {
      const folder = join(dirname(path), 'h5')
      const x = join(folder, H5_X)
      writeFileSync(x, bytes)
      try {
        const source = await pcamHdf5Source(new FolderTree(folder))
        try {
          for await (const item of source.read()) assert.ok(item.label === 0 || item.label === 1)
        } finally {
          await source.close()
        }
      } catch (error) {
        if (error instanceof DataError) assert.ok(error.message.includes(x), error.message)
        throw error
      }
    },
  },
  geojson: {
    ext: 'geojson',
    namesFile: true,
    seeds: async () => {
      const ring = [
        [0, 0],
        [100, 0],
        [100, 80],
        [0, 80],
        [0, 0],
      ]
      const hole = [
        [10, 10],
        [20, 10],
        [20, 20],
        [10, 10],
      ]
      const feature = (geometry: unknown, name: string) => ({
        type: 'Feature',
        id: 'a1',
        geometry,
        properties: { objectType: 'annotation', classification: { name, color: [255, 0, 0] } },
      })
      const features = [
        feature({ type: 'Polygon', coordinates: [ring, hole] }, 'Tumor'),
        feature({ type: 'MultiPolygon', coordinates: [[ring], [hole]] }, 'Normal'),
      ]
      return [
        Buffer.from(JSON.stringify({ type: 'FeatureCollection', features })),
        Buffer.from(JSON.stringify(features, null, 1)),
      ]
    },
    parse: async (_bytes, path) => {
      const { regions } = readAnnotations(path)
      for (const r of regions)
        assert.ok(r.outer.length >= 3 && r.outer.flat().every(Number.isFinite))
    },
  },
  'asap-xml': {
    ext: 'xml',
    namesFile: true,
    seeds: async () => {
      const coordinates = (points: number[][]) =>
        points.map(([x, y], k) => `<Coordinate Order="${k}" X="${x}" Y="${y}" />`).join('')
      return [
        Buffer.from(
          '<?xml version="1.0"?><ASAP_Annotations><Annotations>' +
            `<Annotation Name="A &amp; 0" Type="Polygon" PartOfGroup="_0"><Coordinates>${coordinates(
              [
                [0, 0],
                [50.5, 0],
                [50, 40],
              ],
            )}</Coordinates></Annotation>` +
            `<Annotation Name="A 1" Type="Spline" PartOfGroup="_2"><Coordinates>${coordinates([
              [5, 5],
              [9, 5],
              [9, 9],
            ])}</Coordinates></Annotation>` +
            '</Annotations><AnnotationGroups><Group Name="_0" PartOfGroup="None" Color="#ff0000"><Attributes /></Group></AnnotationGroups><!-- end --></ASAP_Annotations>',
        ),
      ]
    },
    parse: async (_bytes, path) => {
      const { regions } = readAnnotations(path)
      for (const r of regions)
        assert.ok(r.outer.length >= 3 && r.outer.flat().every(Number.isFinite))
    },
  },
  multipart: {
    ext: 'body',
    namesFile: false,
    seeds: async () => [
      multipartBody([{ name: 'a.png', bytes: await raw(32, 32).png().toBuffer() }]),
      multipartBody([
        { name: 'b.jpg', bytes: await raw(40, 20).jpeg().toBuffer() },
        { name: 'c.tif', bytes: await raw(32, 32).tiff({ compression: 'none' }).toBuffer() },
      ]),
    ],
    parse: async (bytes) => {
      const app = await uploadApp()
      const response = await app.inject({
        method: 'POST',
        url: '/upload',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        payload: bytes,
      })
      // A client's bad body is the client's fault: a 4xx with a message, never a 5xx.
      assert.ok(response.statusCode < 500, `${response.statusCode}: ${response.body}`)
    },
  },
}
