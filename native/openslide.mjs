// OpenSlide for the native build, printed as one gyp setting (sources, include_dirs, libraries,
// defines). On unless PCAM_OPENSLIDE=0: then the addon is built without it, for a machine that has
// no libopenslide-dev (a bare GPU box), and opening a slide says how to get it back.
const withOpenSlide = process.env.PCAM_OPENSLIDE !== '0'
const settings = {
  sources: withOpenSlide ? ['src/slide.cc'] : [],
  include_dirs: withOpenSlide ? ['/usr/include/openslide'] : [],
  libraries: withOpenSlide ? ['-lopenslide'] : [],
  defines: withOpenSlide ? [] : ['PCAM_WITHOUT_OPENSLIDE'],
}
const name = process.argv[2]
if (!(name in settings)) {
  console.error(`usage: node openslide.mjs ${Object.keys(settings).join('|')}`)
  process.exit(2)
}
console.log(settings[name].join(' '))
