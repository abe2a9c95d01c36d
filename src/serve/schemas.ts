/**
 * JSON schemas of the server's query strings and path parameters. Fastify validates requests
 * against them (coercing "12" to 12) and answers 400 naming the field, before any handler runs.
 * @module
 */
import { SLIDE_FILES } from '../run/slide-files.js'

/** A switch in a query string: ?explain=1, ?explain=true (absent: off). */
const SWITCH = { type: 'string', enum: ['0', '1', 'true', 'false'] } as const

export function switchOn(value: string | undefined): boolean {
  return value === '1' || value === 'true'
}

export const PREDICT_QUERY = {
  type: 'object',
  properties: { explain: SWITCH, resize: SWITCH },
} as const
export interface PredictQuery {
  explain?: '0' | '1' | 'true' | 'false'
  resize?: '0' | '1' | 'true' | 'false'
}

export const SLIDE_PARAMS = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1 } },
  required: ['name'],
} as const
export interface SlideParams {
  name: string
}

export const DEEP_ZOOM_PARAMS = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    level: { type: 'integer', minimum: 0 },
    // One spelling per tile (no leading zeros), so that "00_0" cannot bypass the tile cache.
    tile: { type: 'string', pattern: '^(0|[1-9]\\d{0,8})_(0|[1-9]\\d{0,8})\\.jpeg$' },
  },
  required: ['name', 'level', 'tile'],
} as const
export interface DeepZoomParams {
  name: string
  level: number
  tile: string
}

export const TILE_QUERY = {
  type: 'object',
  properties: { x: { type: 'number' }, y: { type: 'number' } },
  required: ['x', 'y'],
} as const
export interface TileQuery {
  x: number
  y: number
}

export const CONTOURS_QUERY = {
  type: 'object',
  properties: { threshold: { type: 'number', minimum: 0, maximum: 1 } },
  required: ['threshold'],
} as const
export interface ContoursQuery {
  threshold: number
}

/** The files of a slide's result the viewer offers for download (QuPath imports the GeoJSON). */
export const RESULT_FILES = [
  SLIDE_FILES.tumourGeojson,
  SLIDE_FILES.tilesGeojson,
  SLIDE_FILES.detections,
  SLIDE_FILES.tiles,
  SLIDE_FILES.summary,
  SLIDE_FILES.heatmap,
  SLIDE_FILES.overlay,
] as const
export const RESULT_FILE_PARAMS = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    file: { type: 'string', enum: RESULT_FILES },
  },
  required: ['name', 'file'],
} as const
export interface ResultFileParams {
  name: string
  file: (typeof RESULT_FILES)[number]
}
