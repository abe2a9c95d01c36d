/**
 * pcam as a library (`import ... from 'pcam'`): stores of patches, training (the recipe and the
 * Learner under it, with its callbacks), prediction and evaluation of a run folder, whole slides,
 * ONNX export and the prediction server. The engine is `pcam/torch` (tensors, autograd,
 * optimizers) and `pcam/nn` (layers). Everything here is what the `pcam` command itself uses.
 * @module
 */
export { PCAM_VERSION } from './version.js'
export {
  ConfigError,
  DataError,
  DeviceError,
  PcamError,
  StateDictError,
  TorchError,
  ValidationError,
} from './errors.js'

// Data: patch stores and how they are read.
export {
  AUGMENT_PRESETS,
  IMAGENET_NORMALIZATION,
  type AugmentOptions,
  type Normalization,
} from './data/augment.js'
export { PatchLoader, type Batch, type LoaderOptions } from './data/loader.js'
export {
  prepareStore,
  type PrepareOptions,
  type PrepareProgress,
  type PrepareResult,
} from './data/prepare.js'
export type { PatchItem, Problem, Source, SplitName } from './data/sources/source.js'
export type { SplitSpec } from './data/split.js'
export { PatchStore, PCAM_MPP, type StoreMeta } from './data/store.js'
export type { Tta } from './data/tta.js'

// Models.
export {
  ARCHITECTURES,
  createModel,
  type Architecture,
  type HeadKind,
  type Backbone,
  type ModelSpec,
  type PatchClassifier,
} from './models/registry.js'

// Metrics (pure functions of probabilities and labels).
export {
  accuracy,
  averagePrecision,
  binaryReport,
  chooseThreshold,
  confusion,
  rocAuc,
  rocAucWithCi,
  rocCurve,
  type BinaryReport,
  type Numbers,
  type Confusion,
  type ThresholdRule,
} from './metrics/metrics.js'

// The run folder.
export { loadRun, type LoadedRun } from './run/load-run.js'
export {
  readHistory,
  readRunConfig,
  runThreshold,
  type EnsembleInfo,
  type EpochRecord,
  type FitPosition,
  type RunConfig,
  type RunThreshold,
} from './run/run-folder.js'

// Training: the recipe, and the Learner with its callbacks for code of one's own.
export {
  trainConfig,
  TRAIN_DEFAULTS,
  type DistributedConfig,
  type TrainConfig,
  type TrainSettings,
} from './recipe/train-config.js'
export type { MemberInfo } from './recipe/ensemble.js'
export { train, type TrainHooks, type TrainResult } from './recipe/train.js'
export {
  BATCH_EVENTS,
  type BatchEvent,
  CancelBackward,
  CancelBatch,
  CancelEpoch,
  CancelFit,
  CancelStep,
  CancelTrain,
  CancelValidate,
  defaultLoss,
  defaultMetrics,
  EVENTS,
  Learner,
  LEARNER_DEFAULTS,
  type BatchInfo,
  type BatchIterable,
  type Callback,
  type EpochLoader,
  type LearnerBatch,
  type LearnerEvent,
  type LearnerModel,
  type LearnerOptions,
  type LossFunction,
  type Metric,
  type OptimizerFunction,
  type ParameterGroup,
  type ValidOutputs,
} from './learn/learner.js'
export { TrainEval } from './learn/callbacks/train-eval.js'
export { NonFiniteLossCheck } from './learn/callbacks/non-finite-loss.js'
export { fineTune, type FineTuneOptions } from './learn/fine-tune.js'
export { lrFind, type LrFindResult } from './learn/lr-find.js'
export type { OneCycleOptions } from './learn/schedule.js'
export type { CheckpointedCallback } from './learn/checkpoint.js'
export type { BackendRequest, BnStats, DataParallel } from './learn/data-parallel.js'
export { EarlyStopping } from './learn/callbacks/early-stopping.js'
export { ExponentialMovingAverage } from './learn/callbacks/ema.js'
export { StochasticWeightAveraging, updateBn } from './learn/callbacks/swa.js'
export { GradientClipping } from './learn/callbacks/gradient-clipping.js'
export { MixedPrecision, precisionCallbacks } from './learn/callbacks/mixed-precision.js'
export { GradScaler, type GradScalerOptions } from './learn/callbacks/grad-scaler.js'
export {
  computePlan,
  PRECISIONS,
  type ComputePlan,
  type ComputeRequest,
  type DeviceRequest,
  type Precision,
  type PrecisionRequest,
} from './learn/precision.js'
export { OneCycleSchedule } from './learn/callbacks/one-cycle.js'
export { Recorder } from './learn/callbacks/recorder.js'
export { SaveBest } from './learn/callbacks/save-best.js'
export { TensorBoardLogger, type FitPicture } from './learn/callbacks/tensorboard.js'

// Prediction and evaluation of a trained run.
export { openPredictor, ENGINES, type Engine, type PatchPredictor } from './eval/predictor.js'
export { predictFiles, type Prediction, type PredictFilesOptions } from './eval/predict-files.js'
export {
  evaluate,
  type Evaluation,
  type EvaluateOptions,
  type MemberEvaluation,
  type EvaluationResult,
} from './eval/evaluate.js'
export { explainImages, type Explanation } from './eval/explain.js'
export { writeReport } from './eval/report.js'

// Whole slides: what pcam slide predict, slide eval and data prepare --annotations are made of.
export { OpenSlide, type SlideLevel } from './torch/openslide.js'
export {
  predictSlide,
  type SlideModel,
  type SlidePredictOptions,
  type SlideSummary,
} from './slide/predict-slide.js'
export {
  loadSlideModel,
  predictSlides,
  slideInfo,
  slideModelOf,
  type BatchResult,
  type LoadedSlideModel,
  type SlideFailure,
  type SlideInfo,
  type SlideModelOptions,
  type SlideShard,
} from './slide/batch.js'
export {
  modelResolution,
  slideResolution,
  type SlideResolution,
  type TileScale,
} from './slide/resolution.js'
export { slideTiling, type SlideTiling, type TileGrid } from './slide/grid.js'
export type { TilePredictor } from './slide/pipeline.js'
export { detections, type Detection } from './slide/detections.js'
export {
  annotationFileFor,
  DEFAULT_CLASSES,
  parseClassMap,
  readAnnotations,
  type AnnotationClass,
  type Point,
  type Region,
  type Ring,
  type SlideAnnotations,
} from './slide/annotations.js'
export { lesionMap, type LesionMap } from './slide/lesions.js'
export { froc, type Froc, type SlideLesionOutcome } from './metrics/froc.js'
export {
  evaluateSlides,
  type SlideEvaluation,
  type SlideEvalOptions,
  type SlideOutcome,
} from './slide/evaluate.js'
export { slidePatchSource, type SlidePatchOptions } from './slide/patches.js'

// Export and serving.
export { exportOnnx } from './export/export.js'
export { createServer, type PcamServer, type ServeOptions } from './serve/server.js'
