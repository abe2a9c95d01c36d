/**
 * A seeded random generator of its own, for draws that must not disturb (or be disturbed by) the
 * global generator: a data loader's shuffles and augmentations stay the same whatever the model does.
 * @see torch.Generator
 * @module
 */
import { checkInteger } from './check.js'
import { native, type GeneratorHandle } from './native.js'

export class Generator {
  readonly handle: GeneratorHandle
  constructor(readonly seed: number) {
    this.handle = native.generator(checkInteger(seed, 'seed', 0))
  }
}
