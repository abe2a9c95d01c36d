/**
 * The inference engines behind one interface: a PatchPredictor turns uint8 patches into the
 * positive class's probabilities, with libtorch (the run's model.safetensors) or ONNX Runtime
 * (the run's model.onnx, exported once into the run folder). Whatever predicts (predict, eval,
 * serve, slides) opens one with openPredictor() and calls predict() per batch. Grad-CAM needs
 * gradients and stays on libtorch.
 * @module
 */
import type { PatchStore } from '../data/store.js'
import { ValidationError } from '../errors.js'
import { ensureRunOnnx } from '../export/export.js'
import { OnnxPredictor } from '../export/onnx-engine.js'
import type { PatchClassifier } from '../models/registry.js'
import { noGrad, scope, tensor, type Tensor } from '../torch/index.js'
import { inputOptions, predictImages, type PredictOptions } from './predict.js'
import { loadRun } from '../run/load-run.js'
import { readRunConfig, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'

export const ENGINES = ['libtorch', 'onnxruntime'] as const
export type Engine = (typeof ENGINES)[number]
/** The engine that measured faster here (`pcam bench predict`; README, "Models outside pcam"). */
export const DEFAULT_ENGINE: Engine = 'onnxruntime'

export function checkEngine(value: unknown): Engine {
  if (!(ENGINES as readonly unknown[]).includes(value))
    throw new ValidationError(
      `Expected ${ENGINES.join(' or ')} for --engine but received "${String(value)}"`,
    )
  return value as Engine
}

export interface PatchPredictor {
  readonly engine: Engine
  readonly config: RunConfig
  /**
   * Probabilities of the positive class for N x H x W x 3 uint8 patches (the caller keeps and
   * disposes `images`), averaged over the TTA views.
   */
  predict(images: Tensor, tta?: Tta): Promise<Float32Array>
  dispose(): void
}

/** libtorch: the run's PatchClassifier in eval mode. */
export class LibtorchPredictor implements PatchPredictor {
  readonly engine = 'libtorch'
  constructor(
    readonly model: PatchClassifier,
    readonly config: RunConfig,
  ) {}
  predict(images: Tensor, tta: Tta = false): Promise<Float32Array> {
    return Promise.resolve(
      noGrad(() => predictImages(this.model, images, { ...inputOptions(this.config), tta })),
    )
  }
  dispose(): void {
    this.model.dispose()
  }
}

/** Opens a run with the chosen engine (ONNX Runtime exports model.onnx first if needed). */
export async function openPredictor(
  run: string,
  engine: Engine = DEFAULT_ENGINE,
): Promise<PatchPredictor> {
  if (engine === 'libtorch') {
    const { model, config } = loadRun(run)
    return new LibtorchPredictor(model, config)
  }
  const path = ensureRunOnnx(run)
  const predictor = await OnnxPredictor.open(path, readRunConfig(run))
  return predictor as PatchPredictor
}

/** Probabilities of the positive class for the stored patches at `indices`, in batches. */
export async function predictStoreWith(
  predictor: PatchPredictor,
  store: PatchStore,
  indices: number[],
  options: Pick<PredictOptions, 'batchSize' | 'tta' | 'onProgress'>,
): Promise<Float32Array> {
  const { batchSize = 128, tta = false } = options
  const out = new Float32Array(indices.length)
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = tensor(BigInt64Array.from(indices.slice(start, start + batchSize), BigInt))
    const images = scope(() => store.gather(idx).images)
    idx.dispose()
    try {
      out.set(await predictor.predict(images, tta), start)
    } finally {
      images.dispose()
    }
    options.onProgress?.(Math.min(start + batchSize, indices.length), indices.length)
  }
  return out
}
