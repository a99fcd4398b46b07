#!/usr/bin/env bash
# Copy the JavaScript the HTML book needs into book_assets/vendor/, from the npm
# registry, so the built pages load nothing from other hosts:
#   RequireJS and the ipywidgets HTML manager (widget snapshots), MathJax 3 (math),
#   Noto Sans KR's Korean subset (the post's Korean terms, on machines without a CJK font).
# Runs only when the pinned versions below differ from the last run (stamp file).
set -euo pipefail

REQUIREJS=requirejs@2.3.7
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.6
MATHJAX=mathjax@3.2.2
NOTO_SANS_KR=@fontsource/noto-sans-kr@5.3.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/book_assets/vendor"
want="$REQUIREJS $HTML_MANAGER $MATHJAX fonts-with-ttf $NOTO_SANS_KR"

if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$want" ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "vendor_assets: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "vendor_assets: fetching $want"
# npm pack downloads each package's tarball only (no dependencies, no install scripts).
(cd "$tmp" && npm pack --silent "$REQUIREJS" "$HTML_MANAGER" "$MATHJAX" "$NOTO_SANS_KR" >/dev/null)
for tgz in "$tmp"/*.tgz; do
    name="$(basename "$tgz" .tgz)"
    mkdir -p "$tmp/$name"
    tar -xzf "$tgz" -C "$tmp/$name"
done

rm -rf "$dest"
mkdir -p "$dest/html-manager" "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex"

cp "$tmp"/requirejs-*/package/require.js "$dest/require.js"

# embed-amd.js plus the chunks and icon fonts it loads by relative URL; no source maps.
hm="$(echo "$tmp"/jupyter-widgets-html-manager-*/package/dist)"
cp "$hm/embed-amd.js" "$hm"/*.embed.js "$dest/html-manager/"
# The icon fonts in every format the stylesheet names.
cp "$hm"/*.woff2 "$hm"/*.woff "$hm"/*.ttf "$dest/html-manager/"

# MathJax: the TeX-to-HTML component, its fonts, the TeX extensions it may autoload,
# and the menu / assistive-MathML parts it loads on start.
mj="$(echo "$tmp"/mathjax-*/package/es5)"
cp "$mj/tex-chtml.js" "$dest/mathjax/"
cp -r "$mj/output/chtml/fonts/woff-v2" "$dest/mathjax/output/chtml/fonts/"
cp -r "$mj/input/tex/extensions" "$dest/mathjax/input/tex/"
cp -r "$mj/ui" "$mj/a11y" "$dest/mathjax/"
cp "$tmp"/mathjax-*/package/LICENSE "$dest/mathjax/LICENSE"

# Noto Sans KR (SIL Open Font License): only the Korean subset at weight 400 (one
# woff2 file, about 0.5 MB); book_assets/css/hangul.css declares it for Hangul only.
kr="$(echo "$tmp"/fontsource-noto-sans-kr-*/package)"
mkdir -p "$dest/noto-sans-kr"
cp "$kr/files/noto-sans-kr-korean-400-normal.woff2" "$kr/LICENSE" "$dest/noto-sans-kr/"

echo "$want" > "$dest/.stamp"
echo "vendor_assets: $(du -sh "$dest" | cut -f1) in book_assets/vendor"
