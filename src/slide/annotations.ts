/**
 * Annotations drawn on a slide, read from the two formats labs have: QuPath's GeoJSON export (a
 * FeatureCollection or a bare array of Features; Polygon and MultiPolygon with holes; the class in
 * properties.classification.name) and ASAP's XML, as Camelyon16 ships it (Annotation elements of
 * Coordinate X/Y/Order, grouped by PartOfGroup). Coordinates are level-0 pixels. Classes map to
 * tumour (1), normal (0) or exclusion (a region inside tumour that is not tumour: Camelyon16's
 * `_2`). Every problem (malformed file, unknown class, a ring that crosses itself, a point outside
 * the slide) is one line naming the file and the feature.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, extname, join } from 'node:path'
import { readCsv } from '../data/csv.js'
import { DataError, ValidationError } from '../errors.js'
import { parseXml, type XmlElement } from './xml.js'

/** A vertex [x, y] in level-0 pixels of the slide. */
export type Point = [number, number]
/** A closed ring: the last point joins the first (a repeated first point is dropped). */
export type Ring = Point[]
/** What a region is: tumour (label 1), normal (0), or excluded (not tumour, inside tumour). */
export type AnnotationClass = 'tumour' | 'normal' | 'exclude'

/** One annotated polygon (a MultiPolygon gives one per part), in level-0 pixels. */
export interface Region {
  /** The outline. */
  outer: Ring
  /** Rings cut out of the outline, not part of the region (none from ASAP XML). */
  holes: Ring[]
  /** What the region is, its class name mapped by the class map. */
  kind: AnnotationClass
  /** The class name in the file. */
  className: string
  /** How messages name it: "feature 3", "annotation 'Annotation 2'". */
  where: string
}

/** The annotations of one slide, as readAnnotations reads them from one file. */
export interface SlideAnnotations {
  /** The annotation file they were read from. */
  file: string
  /** Every region in the file, in its order. */
  regions: Region[]
}

/** Largest annotation file read (a Camelyon16 XML is under 2 MB; QuPath exports of cells more). */
export const MAX_ANNOTATION_BYTES = 256 * 2 ** 20
/** Most vertices in one file: beyond it a file is not annotations a person drew. */
export const MAX_ANNOTATION_POINTS = 5_000_000

/**
 * Class names to kinds when --classes does not say: QuPath's and ASAP's usual names, and
 * Camelyon16's groups (`_0`, `_1` tumour, `_2` exclusion). Names match case-insensitively.
 */
export const DEFAULT_CLASSES =
  'Tumor=1,Tumour=1,Metastasis=1,Metastases=1,_0=1,_1=1,_2=exclude,Exclusion=exclude,Normal=0,Non-tumor=0,Stroma=0'

/** Parses `Tumor=1,Normal=0,Ignore=exclude` into a lower-cased name → kind map. */
export function parseClassMap(text: string): Map<string, AnnotationClass> {
  const map = new Map<string, AnnotationClass>()
  for (const pair of text.split(',')) {
    const at = pair.lastIndexOf('=')
    const name = pair.slice(0, at).trim()
    const value = pair.slice(at + 1).trim()
    const kind =
      value === '1' ? 'tumour' : value === '0' ? 'normal' : value === 'exclude' ? 'exclude' : null
    if (at <= 0 || !name || !kind)
      throw new ValidationError(
        `Expected --classes as name=1|0|exclude pairs separated by commas (e.g. Tumor=1,Normal=0) but received "${pair}"`,
      )
    map.set(name.toLowerCase(), kind)
  }
  return map
}

/**
 * A `slide,label` CSV (label 0 or 1): what is known of slides without annotations. Slides are
 * matched by file name or by name without extension. Every bad row is a line of the error.
 */
export function readSlideLabels(path: string): Map<string, number> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new DataError(`Cannot read slide labels ${path}: ${(error as Error).message}`)
  }
  const { header, rows } = readCsv(text, path)
  if (header.map((h) => h.trim().toLowerCase()).join(',') !== 'slide,label')
    throw new DataError(`${path} must start with the header "slide,label"`)
  const labels = new Map<string, number>()
  const bad: string[] = []
  for (const { line, fields } of rows) {
    const [slide, label] = fields.map((f) => f.trim())
    if (!slide || (label !== '0' && label !== '1'))
      bad.push(
        `${path}:${line}: expected "slide,0" or "slide,1" but found ${JSON.stringify(fields)}`,
      )
    else labels.set(slide, Number(label))
  }
  if (bad.length > 0) throw new DataError(bad.join('\n'))
  return labels
}

/** The label a `slide,label` CSV gives `slide` (a path), by file name or name without extension. */
export function slideLabel(labels: Map<string, number>, slide: string): number | undefined {
  const file = basename(slide)
  return labels.get(file) ?? labels.get(basename(file, extname(file)))
}

/** The annotation file of a slide in `dir`: <stem>.geojson, .json or .xml, or null. */
export function annotationFileFor(slide: string, dir: string): string | null {
  const stem = basename(slide, extname(slide))
  for (const ext of ['.geojson', '.json', '.xml']) {
    const path = join(dir, stem + ext)
    if (existsSync(path)) return path
  }
  return null
}

class Problems {
  readonly lines: string[] = []
  /** Vertices read so far, against MAX_ANNOTATION_POINTS. */
  points = 0
  constructor(readonly file: string) {}
  add(where: string, what: string): void {
    if (this.lines.length < 50) this.lines.push(`${this.file}: ${where} ${what}`)
    else if (this.lines.length === 50)
      this.lines.push(`${this.file}: ... (more problems not listed)`)
  }
  check(): void {
    if (this.lines.length > 0) throw new DataError(this.lines.join('\n'))
  }
}

/**
 * Reads the annotations of one slide (format by extension: .geojson/.json, .xml) and maps their
 * classes with `classes` (default DEFAULT_CLASSES). Throws one DataError listing every problem.
 */
export function readAnnotations(
  file: string,
  classes: Map<string, AnnotationClass> = parseClassMap(DEFAULT_CLASSES),
): SlideAnnotations {
  let text: string
  try {
    const size = statSync(file).size
    if (size > MAX_ANNOTATION_BYTES)
      throw new DataError(
        `${file} holds ${size} bytes, more than the ${MAX_ANNOTATION_BYTES} an annotation file may have`,
      )
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if (error instanceof DataError) throw error
    throw new DataError(`Cannot read annotations ${file}: ${(error as Error).message}`)
  }
  const problems = new Problems(file)
  const regions =
    extname(file).toLowerCase() === '.xml'
      ? asapRegions(text, file, classes, problems)
      : geoJsonRegions(text, file, classes, problems)
  problems.check()
  return { file, regions }
}

/** Refuses regions with a point outside a width x height slide (one line each). */
export function checkInsideSlide(
  annotations: SlideAnnotations,
  width: number,
  height: number,
): void {
  const problems = new Problems(annotations.file)
  for (const region of annotations.regions) {
    const outside = [region.outer, ...region.holes]
      .flat()
      .find(([x, y]) => x < 0 || y < 0 || x > width || y > height)
    if (outside)
      problems.add(
        region.where,
        `has the point (${outside[0]}, ${outside[1]}) outside the slide (${width} x ${height} level-0 pixels)`,
      )
  }
  problems.check()
}

function kindOf(
  name: unknown,
  where: string,
  classes: Map<string, AnnotationClass>,
  problems: Problems,
): AnnotationClass | null {
  if (typeof name !== 'string' || name === '') {
    problems.add(where, 'has no class name; give it one (Tumor, Normal, ...) in QuPath or ASAP')
    return null
  }
  const kind = classes.get(name.toLowerCase())
  if (!kind)
    problems.add(
      where,
      `has the class "${name}", which --classes does not map (add ${name}=1, =0 or =exclude)`,
    )
  return kind ?? null
}

/** A ring from coordinate pairs, checked: finite numbers, three corners or more, not crossing itself. */
function ring(coordinates: unknown, where: string, problems: Problems): Ring | null {
  if (!Array.isArray(coordinates)) {
    problems.add(where, 'has a ring that is not a list of [x, y] points')
    return null
  }
  const out: Ring = []
  for (const point of coordinates) {
    if (
      !Array.isArray(point) ||
      point.length < 2 ||
      !point.slice(0, 2).every((v) => Number.isFinite(v))
    ) {
      problems.add(
        where,
        `has a point that is not two numbers: ${JSON.stringify(point)?.slice(0, 60)}`,
      )
      return null
    }
    out.push([point[0] as number, point[1] as number])
  }
  problems.points += out.length
  if (problems.points > MAX_ANNOTATION_POINTS)
    throw new DataError(`${problems.file} holds more than ${MAX_ANNOTATION_POINTS} points`)
  return closedRing(out, where, problems)
}

function closedRing(points: Ring, where: string, problems: Problems): Ring | null {
  const first = points[0]
  const last = points.at(-1)
  if (points.length > 1 && first && last && first[0] === last[0] && first[1] === last[1])
    points.pop()
  if (new Set(points.map(([x, y]) => `${x},${y}`)).size < 3) {
    problems.add(where, 'has a ring of fewer than three distinct points')
    return null
  }
  const crossing = selfIntersection(points)
  if (crossing) {
    problems.add(
      where,
      `has a ring that crosses itself near (${Math.round(crossing[0])}, ${Math.round(crossing[1])}); fix it in QuPath (Objects > Annotations > Simplify shape, or redraw)`,
    )
    return null
  }
  return points
}

// ---------------------------------------------------------------------------------------------
// QuPath GeoJSON

function geoJsonRegions(
  text: string,
  file: string,
  classes: Map<string, AnnotationClass>,
  problems: Problems,
): Region[] {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new DataError(`${file} is not valid JSON: ${(error as Error).message}`)
  }
  const features = Array.isArray(json)
    ? json
    : typeof json === 'object' &&
        json !== null &&
        (json as { type?: unknown }).type === 'FeatureCollection'
      ? (json as { features?: unknown }).features
      : typeof json === 'object' && json !== null && (json as { type?: unknown }).type === 'Feature'
        ? [json]
        : null
  if (!Array.isArray(features))
    throw new DataError(
      `${file} is not QuPath GeoJSON: expected a FeatureCollection or a list of Features`,
    )
  const regions: Region[] = []
  features.forEach((feature: unknown, index) => {
    const f = (typeof feature === 'object' && feature !== null ? feature : {}) as {
      type?: unknown
      id?: unknown
      geometry?: { type?: unknown; coordinates?: unknown } | null
      properties?: { classification?: { name?: unknown } | null; name?: unknown } | null
    }
    const label = typeof f.properties?.name === 'string' ? ` ("${f.properties.name}")` : ''
    const where = `feature ${index}${label}`
    if (f.type !== 'Feature') {
      problems.add(where, 'is not a GeoJSON Feature')
      return
    }
    const geometry = f.geometry
    const type = geometry?.type
    if (type !== 'Polygon' && type !== 'MultiPolygon') {
      problems.add(
        where,
        `is a ${String(type ?? 'feature without geometry')}; only Polygon and MultiPolygon annotations are read (export annotations only, or remove it)`,
      )
      return
    }
    const kind = kindOf(f.properties?.classification?.name, where, classes, problems)
    const polygons = type === 'Polygon' ? [geometry?.coordinates] : geometry?.coordinates
    if (!Array.isArray(polygons)) {
      problems.add(where, `has ${type} coordinates that are not a list`)
      return
    }
    polygons.forEach((rings: unknown, k) => {
      const at = polygons.length > 1 ? `${where} polygon ${k}` : where
      if (!Array.isArray(rings) || rings.length === 0) {
        problems.add(at, 'has a polygon without rings')
        return
      }
      const [outer, ...holes] = rings.map((r) => ring(r, at, problems))
      if (!outer || holes.some((h) => h === null) || !kind) return
      regions.push({
        outer,
        holes: holes as Ring[],
        kind,
        className: String(f.properties?.classification?.name),
        where: at,
      })
    })
  })
  return regions
}

// ---------------------------------------------------------------------------------------------
// ASAP XML

function asapRegions(
  text: string,
  file: string,
  classes: Map<string, AnnotationClass>,
  problems: Problems,
): Region[] {
  let root: XmlElement
  try {
    root = parseXml(text)
  } catch (error) {
    throw new DataError(`${file} is not valid XML: ${(error as Error).message}`)
  }
  if (root.name !== 'ASAP_Annotations')
    throw new DataError(
      `${file} is not ASAP XML: its root element is <${root.name}>, not <ASAP_Annotations>`,
    )
  const annotations = root.children
    .filter((c) => c.name === 'Annotations')
    .flatMap((c) => c.children.filter((a) => a.name === 'Annotation'))
  const regions: Region[] = []
  annotations.forEach((annotation, index) => {
    const name = annotation.attributes.Name
    const where = `annotation ${index}${name ? ` ("${name}")` : ''}`
    const type = annotation.attributes.Type ?? 'Polygon'
    if (type !== 'Polygon' && type !== 'Spline' && type !== 'Rectangle') {
      problems.add(where, `is a ${type}; only Polygon, Spline and Rectangle annotations are read`)
      return
    }
    const kind = kindOf(annotation.attributes.PartOfGroup, where, classes, problems)
    const coordinates = annotation.children
      .filter((c) => c.name === 'Coordinates')
      .flatMap((c) => c.children.filter((p) => p.name === 'Coordinate'))
    const ordered: [number, number, number][] = []
    for (const c of coordinates) {
      const [x, y, order] = [c.attributes.X, c.attributes.Y, c.attributes.Order].map((v) =>
        v === undefined ? Number.NaN : Number(v),
      ) as [number, number, number]
      if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(order)) {
        problems.add(
          where,
          `has a Coordinate without numeric X, Y and Order: ${JSON.stringify(c.attributes).slice(0, 80)}`,
        )
        return
      }
      ordered.push([order, x, y])
    }
    ordered.sort((a, b) => a[0] - b[0])
    const outer = ring(
      ordered.map(([, x, y]) => [x, y]),
      where,
      problems,
    )
    if (!outer || !kind) return
    regions.push({
      outer,
      holes: [],
      kind,
      className: String(annotation.attributes.PartOfGroup),
      where,
    })
  })
  return regions
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** Where two non-adjacent edges of a ring cross, or null. Edges are bucketed on a grid. */
export function selfIntersection(ring: Ring): Point | null {
  const n = ring.length
  if (n < 4) return null
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity]
  for (const [x, y] of ring) {
    minX = Math.min(minX, x)
    minY = Math.min(minY, y)
    maxX = Math.max(maxX, x)
    maxY = Math.max(maxY, y)
  }
  const cells = Math.max(1, Math.ceil(Math.sqrt(n)))
  const cw = (maxX - minX) / cells || 1
  const ch = (maxY - minY) / cells || 1
  const buckets = new Map<number, number[]>()
  const cellOf = (v: number, min: number, size: number) =>
    Math.min(cells - 1, Math.max(0, Math.floor((v - min) / size)))
  for (let i = 0; i < n; i++) {
    const [ax, ay] = ring[i] as Point
    const [bx, by] = ring[(i + 1) % n] as Point
    const [c0, c1] = [cellOf(Math.min(ax, bx), minX, cw), cellOf(Math.max(ax, bx), minX, cw)]
    const [r0, r1] = [cellOf(Math.min(ay, by), minY, ch), cellOf(Math.max(ay, by), minY, ch)]
    for (let r = r0; r <= r1; r++)
      for (let c = c0; c <= c1; c++) {
        const key = r * cells + c
        const list = buckets.get(key)
        if (list) {
          for (const j of list) {
            // Adjacent edges share a point by construction.
            if (j === i || (j + 1) % n === i || (i + 1) % n === j) continue
            const hit = crossing(ring, i, j)
            if (hit) return hit
          }
          list.push(i)
        } else buckets.set(key, [i])
      }
  }
  return null
}

function crossing(ring: Ring, i: number, j: number): Point | null {
  const n = ring.length
  const [ax, ay] = ring[i] as Point
  const [bx, by] = ring[(i + 1) % n] as Point
  const [cx, cy] = ring[j] as Point
  const [dx, dy] = ring[(j + 1) % n] as Point
  const d1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
  const d2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
  const d3 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
  const d4 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) {
    const t = d3 / (d3 - d4)
    return [ax + t * (bx - ax), ay + t * (by - ay)]
  }
  return null
}

/**
 * Whether (x, y) is inside an open ring (its last point joins the first; geojson.ts's inside()
 * takes GeoJSON's closed rings), by the even-odd rule.
 */
export function insideRing(ring: Ring, x: number, y: number): boolean {
  let result = false
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as Point
    const [xj, yj] = ring[j] as Point
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) result = !result
  }
  return result
}

/** Whether (x, y) is in the region: inside its outer ring and in none of its holes. */
export function insideRegion(region: Region, x: number, y: number): boolean {
  return insideRing(region.outer, x, y) && !region.holes.some((h) => insideRing(h, x, y))
}
