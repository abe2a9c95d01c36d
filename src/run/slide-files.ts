/**
 * The files of a slide's prediction folder (what `pcam slide predict` writes, one folder per slide):
 * the one place their names are spelled. docs/formats.md describes each.
 * @module
 */
export const SLIDE_FILES = {
  summary: 'summary.json',
  tiles: 'tiles.csv',
  heatmap: 'heatmap.png',
  overlay: 'overlay.png',
  tissue: 'tissue.png',
  tumourGeojson: 'tumour.geojson',
  tilesGeojson: 'tiles.geojson',
  detections: 'detections.csv',
} as const
