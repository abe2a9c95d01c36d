/**
 * OpenSlide through the addon: whole-slide images opened by path, with levels, properties,
 * associated images, and region reads into uint8 H x W x 3 tensors that run off the main thread.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { extname } from 'node:path'
import { ConfigError, DataError, ValidationError } from '../errors.js'
import { checkInteger } from './check.js'
import { native, type SlideHandle } from './native.js'
import { Tensor } from './tensor.js'

/** One resolution level of a slide; level 0 is the full resolution. */
export interface SlideLevel {
  /** Width of this level in its own pixels. */
  width: number
  /** Height of this level in its own pixels. */
  height: number
  /** Level-0 pixels per pixel of this level. */
  downsample: number
}

/** File extensions OpenSlide reads; a folder of slides is the files with these. */
export const SLIDE_EXTENSIONS = [
  '.svs',
  '.tif',
  '.tiff',
  '.ndpi',
  '.vms',
  '.vmu',
  '.scn',
  '.mrxs',
  '.svslide',
  '.bif',
]

/** The slide files of `folder` (names, sorted, not recursive). */
export function listSlides(folder: string): string[] {
  return readdirSync(folder)
    .filter((f) => SLIDE_EXTENSIONS.includes(extname(f).toLowerCase()))
    .sort()
}

/**
 * The coarsest level whose downsample is at most `downsample` (level 0 when none is): the level
 * to read for that scale without upsampling. Callers add their own tolerance to `downsample`.
 */
export function bestLevel(levels: readonly SlideLevel[], downsample: number): number {
  let best = 0
  levels.forEach((l, i) => {
    if (l.downsample <= downsample) best = i
  })
  return best
}

/** The largest region one read may return (pixels): 256 MiB of ARGB while it is converted. */
const MAX_REGION_PIXELS = 2 ** 26

/**
 * The pyramids pcam opens. The largest scanned slides are about 200,000 pixels a side with a
 * dozen levels; a file past these is crafted or broken, and each of its reads would be too.
 */
export const SLIDE_SHAPE_LIMITS = { levels: 64, side: 2 ** 21, tilePixels: 4096 * 4096 }

function shapeProblem(
  levels: readonly SlideLevel[],
  properties: Readonly<Record<string, string>>,
): string | null {
  if (levels.length === 0) return 'it has no levels'
  if (levels.length > SLIDE_SHAPE_LIMITS.levels)
    return `it has ${levels.length} levels, more than the ${SLIDE_SHAPE_LIMITS.levels} pcam reads`
  const { width, height } = levels[0] as SlideLevel
  if (!(width >= 1 && height >= 1))
    return `its full-resolution level is ${width} x ${height} pixels`
  if (Math.max(width, height) > SLIDE_SHAPE_LIMITS.side)
    return `it is ${width} x ${height} pixels, more than the ${SLIDE_SHAPE_LIMITS.side} a side pcam reads`
  // OpenSlide decodes a whole TIFF tile for any read that touches it: a 16384² tile is a gigabyte
  // per read. (Hamamatsu's "tiles" are JPEG restart intervals, decoded in parts: not counted.)
  if (properties['openslide.vendor'] !== 'hamamatsu') {
    for (let i = 0; i < levels.length; i++) {
      const tileWidth = Number(properties[`openslide.level[${i}].tile-width`] ?? 0)
      const tileHeight = Number(properties[`openslide.level[${i}].tile-height`] ?? 0)
      if (tileWidth * tileHeight > SLIDE_SHAPE_LIMITS.tilePixels)
        return (
          `its level ${i} is stored in tiles of ${tileWidth} x ${tileHeight} pixels, larger than the ` +
          `${SLIDE_SHAPE_LIMITS.tilePixels} pixels pcam decodes per read; re-save it with smaller ` +
          'tiles (vips tiffsave in.tif out.tif --tile --tile-width 512 --tile-height 512 --pyramid)'
        )
    }
  }
  return null
}

function slideError(path: string, message: string, cause?: unknown): DataError {
  return new DataError(`Cannot read slide ${path}: ${message}`, { cause })
}

/**
 * A whole-slide image opened with OpenSlide (.svs, .ndpi, .mrxs, .scn, tiled .tif, ...).
 * @example
 * using slide = await OpenSlide.open('CMU-1.svs')
 * const rgb = await slide.readRegion(0, 0, 0, 512, 512) // 512 x 512 x 3 uint8
 */
export class OpenSlide {
  /** The path the slide was opened from. */
  readonly path: string
  /** The resolution levels, level 0 (full resolution) first. */
  readonly levels: readonly SlideLevel[]
  /** OpenSlide's properties of the slide ("openslide.vendor", "openslide.mpp-x", ...). */
  readonly properties: Readonly<Record<string, string>>
  #handle: SlideHandle | null

  private constructor(
    path: string,
    handle: SlideHandle,
    levels: SlideLevel[],
    properties: Record<string, string>,
  ) {
    this.path = path
    this.#handle = handle
    this.levels = levels
    this.properties = properties
  }

  /**
   * Opens a slide on a worker thread (OpenSlide may take seconds over a crafted file); a file
   * OpenSlide cannot read, or a pyramid beyond SLIDE_SHAPE_LIMITS, is a DataError naming it.
   */
  static async open(path: string): Promise<OpenSlide> {
    if (!existsSync(path) || !statSync(path).isFile())
      throw new DataError(`Slide not found: ${path}`)
    // An addon built with PCAM_OPENSLIDE=0 has no slide functions.
    if (typeof (native as Partial<typeof native>).slideOpen !== 'function')
      throw new ConfigError(
        `Cannot open ${path}: this pcam was built without OpenSlide (PCAM_OPENSLIDE=0). Install ` +
          'libopenslide-dev ("sudo apt-get install libopenslide-dev") and run "make build".',
      )
    let opened: Awaited<ReturnType<typeof native.slideOpen>>
    try {
      opened = await native.slideOpen(path)
    } catch (error) {
      throw slideError(path, (error as Error).message, error)
    }
    if (opened === null)
      throw new DataError(
        `${path} is not a slide OpenSlide can read (supported: ${SLIDE_EXTENSIONS.join(', ')})`,
      )
    const { handle, levels, properties } = opened
    const problem = shapeProblem(levels, properties)
    if (problem) {
      native.slideClose(handle)
      throw slideError(path, problem)
    }
    return new OpenSlide(path, handle, levels, properties)
  }

  /** Names and sizes of the associated images (label, macro, thumbnail, ...). */
  associatedImages(): {
    /** OpenSlide's name of the image ("label", "macro", "thumbnail", ...). */
    name: string
    /** Width in pixels. */
    width: number
    /** Height in pixels. */
    height: number
  }[] {
    return native.slideAssociated(this.handle())
  }

  /**
   * The region of `level` whose top-left corner is (x, y) in level-0 pixels, width x height
   * pixels of that level, as uint8 H x W x 3 (transparency composited on white). Runs on a
   * worker thread.
   */
  async readRegion(
    x: number,
    y: number,
    level: number,
    width: number,
    height: number,
  ): Promise<Tensor> {
    checkInteger(x, 'x')
    checkInteger(y, 'y')
    checkInteger(level, 'level', 0)
    checkInteger(width, 'width', 1)
    checkInteger(height, 'height', 1)
    if (level >= this.levels.length)
      throw new ValidationError(
        `Expected a level in 0..${this.levels.length - 1} for ${this.path} but received ${level}`,
      )
    if (width * height > MAX_REGION_PIXELS)
      throw new ValidationError(
        `Expected a region of 1..${MAX_REGION_PIXELS} pixels but received ${width} x ${height}`,
      )
    const handle = this.handle()
    try {
      return new Tensor(await native.slideReadRegion(handle, x, y, level, width, height))
    } catch (error) {
      throw slideError(this.path, (error as Error).message, error)
    }
  }

  /** Closes the slide; reads in flight finish first (the addon keeps the handle alive). */
  close(): void {
    if (this.#handle) native.slideClose(this.#handle)
    this.#handle = null
  }

  /** The same as close(). */
  dispose(): void {
    this.close()
  }

  /** Calls close(), for `using` declarations. */
  [Symbol.dispose](): void {
    this.close()
  }

  private handle(): SlideHandle {
    if (!this.#handle) throw new DataError(`The slide ${this.path} was closed`)
    return this.#handle
  }
}
