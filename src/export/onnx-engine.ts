/**
 * ONNX Runtime (onnxruntime-node, CPU) as an inference engine for a run: the run's model.onnx
 * (exported once by ensureRunOnnx) in an InferenceSession with as many threads as libtorch uses.
 * Test-time augmentation turns the uint8 patches with libtorch (the same dihedral() as the libtorch
 * engine) and averages the positive class's probability over the views.
 * @module
 */
import { readFileSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import { dihedral } from '../data/augment.js'
import { DataError } from '../errors.js'
import { ttaViews, type Tta } from '../data/tta.js'
import { runPatchSize, type RunConfig } from '../run/run-folder.js'
import { getNumThreads, scope, type Tensor } from '../torch/index.js'
import { INPUT_NAME, OUTPUT_NAME } from './export.js'
import { decodeModel } from './onnx-proto.js'

/** What the file says about itself, checked before a session opens it. */
export interface OnnxModelInfo {
  patchSize: number
  classes: string[]
  metadata: Record<string, string>
}

function readOnnxFile(path: string): Uint8Array {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new DataError(`Cannot read ${path}: ${(error as Error).message}`)
  }
}

/**
 * Checks the bytes of an .onnx file that pcam exported: a protobuf ModelProto whose metadata pcam
 * wrote and whose input is uint8 patches. Anything else is refused with the file's name.
 */
export function onnxModelInfo(bytes: Uint8Array, path: string): OnnxModelInfo {
  const redo = 'Delete it and run the command again: pcam exports the run anew.'
  let metadata: Record<string, string>
  let input: { name: string; dims: number[] } | null = null
  try {
    const model = decodeModel(bytes)
    metadata = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]))
    const first = model.graph?.input[0]
    if (first)
      input = {
        name: first.name,
        dims: first.type.tensorType.shape.dim.map((d) => ('dimValue' in d ? d.dimValue : -1)),
      }
  } catch (error) {
    throw new DataError(
      `${path} is not an ONNX model (${(error as Error).message}): corrupted or not ONNX. ${redo}`,
    )
  }
  if (!metadata.pcam_version || !metadata.patch_size || !metadata.classes || !input) {
    throw new DataError(
      `${path} is not a model exported by pcam (no pcam metadata: classes, patch size, version); ` +
        `the ONNX Runtime engine runs only "pcam export" files. ${redo}`,
    )
  }
  const patchSize = Number(metadata.patch_size)
  if (input.name !== INPUT_NAME || input.dims.length !== 4 || input.dims[1] !== patchSize) {
    throw new DataError(
      `${path} does not take uint8 patches "${INPUT_NAME}" N x ${patchSize} x ${patchSize} x 3. ${redo}`,
    )
  }
  return { patchSize, classes: classNames(metadata.classes, path, redo), metadata }
}

/** The "classes" metadata: a JSON array of two or more names, as pcam export writes it. */
function classNames(text: string, path: string, redo: string): string[] {
  let classes: unknown
  try {
    classes = JSON.parse(text)
  } catch {
    classes = null
  }
  if (
    !Array.isArray(classes) ||
    classes.length < 2 ||
    !classes.every((c) => typeof c === 'string')
  ) {
    throw new DataError(
      `${path}: its "classes" metadata is not a JSON list of two or more class names. ${redo}`,
    )
  }
  return classes as string[]
}

/**
 * The model's probabilities, checked: float32, N x columns, each in [0, 1]. A file that passes
 * the metadata checks but computes something else (logits, uint8 scores) is refused rather than
 * written out as "probabilities" like 227.
 */
function checkedProbabilities(result: ort.Tensor, count: number, columns: number, path: string) {
  const redo = 'Delete it so pcam exports the run anew.'
  if (result.type !== 'float32')
    throw new DataError(`${path} outputs ${result.type}, not float32 probabilities. ${redo}`)
  const [rows, cols] = result.dims
  if (result.dims.length !== 2 || rows !== count || cols !== columns)
    throw new DataError(
      `${path} outputs a ${result.dims.join(' x ')} tensor for ${count} patches; ` +
        `expected ${count} x ${columns} class probabilities. ${redo}`,
    )
  const data = result.data as Float32Array
  for (const p of data)
    if (!(p >= 0 && p <= 1))
      throw new DataError(`${path} outputs ${p}, which is not a probability in [0, 1]. ${redo}`)
  return data
}

export class OnnxPredictor {
  readonly engine = 'onnxruntime'

  private constructor(
    readonly path: string,
    readonly config: RunConfig,
    private readonly info: OnnxModelInfo,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Opens `path` (a pcam export of the run whose config.json is `config`). */
  static async open(
    path: string,
    config: RunConfig,
    options: { threads?: number } = {},
  ): Promise<OnnxPredictor> {
    const bytes = readOnnxFile(path)
    const info = onnxModelInfo(bytes, path)
    const expected = runPatchSize(config)
    if (info.patchSize !== expected) {
      throw new DataError(
        `${path} takes ${info.patchSize}px patches but its run was trained on ${expected}px ones; delete it so pcam exports the run anew.`,
      )
    }
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: options.threads ?? getNumThreads(),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Threads that spin between runs take cores from slide readers and data loaders; without
        // spinning slide prediction ran 10% faster here and batch prediction no slower.
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      })
    } catch (error) {
      throw new DataError(
        `ONNX Runtime cannot load ${path}: ${(error as Error).message}. Delete it so pcam exports the run anew.`,
      )
    }
    return new OnnxPredictor(path, config, info, session)
  }

  /** Class probabilities (N x columns) for N x P x P x 3 uint8 pixels. */
  private async run(pixels: Uint8Array, count: number, columns: number): Promise<Float32Array> {
    const p = this.info.patchSize
    const input = new ort.Tensor('uint8', pixels, [count, p, p, 3])
    const output = await this.session.run({ [INPUT_NAME]: input })
    input.dispose()
    const result = output[OUTPUT_NAME]
    if (!result) throw new DataError(`${this.path} has no output "${OUTPUT_NAME}"`)
    return checkedProbabilities(result, count, columns, this.path)
  }

  /**
   * Probabilities of the positive class (the last column) for N x P x P x 3 uint8 patches,
   * averaged over the TTA views.
   */
  async predict(images: Tensor, tta: Tta = false): Promise<Float32Array> {
    const [count, height, width, channels] = images.shape as [number, number, number, number]
    const p = this.info.patchSize
    if (height !== p || width !== p || channels !== 3) {
      throw new DataError(
        `${this.path} takes ${p}x${p} RGB patches but received ${height}x${width}x${channels}; ` +
          "resize them to the run's patch size or use --engine libtorch (which resizes).",
      )
    }
    const views = ttaViews(tta)
    const sum = new Float32Array(count)
    const columns = this.info.classes.length
    for (const k of views) {
      const pixels = scope(() => dihedral(images, k).data() as Uint8Array)
      const probabilities = await this.run(pixels, count, columns)
      for (let i = 0; i < count; i++) sum[i]! += probabilities[i * columns + columns - 1]!
    }
    if (views.length > 1) for (let i = 0; i < count; i++) sum[i]! /= views.length
    return sum
  }

  dispose(): void {
    void this.session.release()
  }
}
