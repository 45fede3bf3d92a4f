#!/bin/sh
# Makes the installed-app icons in web/src/icons/ from web/src/favicon.svg (the PNGs are committed,
# so a build needs no image tool). Needs rsvg-convert (Debian: apt-get install librsvg2-bin).
#   icon-192.png, icon-512.png   "any": the camera glyph on a light rounded square
#   icon-maskable-512.png        "maskable": full-bleed square, the glyph inside the 80 % safe zone
#   apple-touch-icon.png (180)   iOS home screen: opaque (iOS paints transparency black)
set -eu
cd "$(dirname "$0")/.."
out=src/icons
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The glyph: favicon.svg's drawing, without its <svg> wrapper.
glyph=$(sed -e 's/^<svg[^>]*>//' -e 's#</svg>\s*$##' src/favicon.svg)
# $1: background shape, $2: glyph scale (of the 32-unit box), file $3
wrap() {
  offset=$(awk "BEGIN { print (32 - 32 * $2) / 2 }")
  printf '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">%s<g transform="translate(%s %s) scale(%s)">%s</g></svg>\n' "$1" "$offset" "$offset" "$2" "$glyph" >"$3"
}
wrap '<rect width="32" height="32" rx="7" fill="#ffffff"/>' 0.8 "$tmp/any.svg"
wrap '<rect width="32" height="32" fill="#ffffff"/>' 0.62 "$tmp/maskable.svg"
wrap '<rect width="32" height="32" fill="#ffffff"/>' 0.75 "$tmp/apple.svg"
rsvg-convert -w 192 -h 192 "$tmp/any.svg" -o "$out/icon-192.png"
rsvg-convert -w 512 -h 512 "$tmp/any.svg" -o "$out/icon-512.png"
rsvg-convert -w 512 -h 512 "$tmp/maskable.svg" -o "$out/icon-maskable-512.png"
rsvg-convert -w 180 -h 180 "$tmp/apple.svg" -o "$out/apple-touch-icon.png"
ls -l "$out"
