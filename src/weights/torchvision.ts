/**
 * A trained patch classifier under torchvision's parameter names, when it has torchvision's
 * shape (a ResNet or MobileNetV2 body with a linear head): the file then loads into
 * torchvision.models.<arch>(num_classes=...) unchanged.
 * @module
 */
import { ValidationError } from '../errors.js'
import type { ModelSpec, PatchClassifier } from '../models/registry.js'
import type { StateDict } from '../nn/index.js'

const CLASSIFIER: Partial<Record<string, string>> = {
  resnet18: 'fc',
  resnet34: 'fc',
  resnet50: 'fc',
  mobilenet_v2: 'classifier.1',
}

/** Whether a model of this spec has a torchvision twin (a ResNet or MobileNetV2 with a linear head). */
export function hasTorchvisionForm(spec: ModelSpec): boolean {
  return spec.head === 'linear' && CLASSIFIER[spec.arch] !== undefined
}

/** The state dict with torchvision's names; the tensors are the model's own (do not dispose). */
export function torchvisionStateDict(model: PatchClassifier): StateDict {
  const classifier = CLASSIFIER[model.spec.arch]
  if (!classifier || !hasTorchvisionForm(model.spec)) {
    throw new ValidationError(
      `Only resnet18/34/50 and mobilenet_v2 with --head linear have a torchvision form (this is ${model.spec.arch} with a ${model.spec.head} head).`,
    )
  }
  const out: StateDict = new Map()
  for (const [name, tensor] of model.body.stateDict()) out.set(name, tensor)
  // The linear head is Sequential(pool, flatten, linear): its linear layer is "head.2".
  for (const [name, tensor] of model.head.stateDict())
    out.set(name.replace(/^2\./, `${classifier}.`), tensor)
  return out
}
