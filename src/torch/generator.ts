/**
 * A seeded random generator of its own, for draws that must not disturb (or be disturbed by) the
 * global generator: a data loader's shuffles and augmentations stay the same whatever the model does.
 * @see torch.Generator
 * @module
 */
import { checkInteger } from './check.js'
import { native, type GeneratorHandle } from './native.js'

/**
 * A CPU random generator with its own seed, for the `generator` option of rand, randn, randint and
 * randperm.
 */
export class Generator {
  /** The native generator that the random factories draw from. @internal */
  readonly handle: GeneratorHandle
  /** The seed it was created with (an integer, 0 or more). */
  readonly seed: number
  constructor(seed: number) {
    this.seed = seed
    this.handle = native.generator(checkInteger(seed, 'seed', 0))
  }
}
