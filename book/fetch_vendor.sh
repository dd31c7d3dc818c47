#!/usr/bin/env bash
# Fetch the JavaScript the rendered book needs offline (widgets and MathJax, about 8 MB) from the npm
# registry with `npm pack`, and unpack only the files the pages load into book/_vendor/_static/vendor/.
# Jupyter Book copies book/_vendor/ into the HTML output (html_extra_path), so pages load
# _static/vendor/... instead of a CDN. The files are not committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/_vendor/_static/vendor"
if [ -f "$dest/.complete" ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch the book's offline JavaScript (apt-get install npm)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.6 mathjax@3.2.2 >/dev/null)
rm -rf "$dest" && mkdir -p "$dest/html-manager" "$dest/mathjax"
for f in "$tmp"/*.tgz; do d="$tmp/$(basename "$f" .tgz)"; mkdir -p "$d"; tar xzf "$f" -C "$d"; done
hm="$tmp/jupyter-widgets-html-manager-1.0.6/package/dist"
cp "$hm/embed-amd.js" "$dest/html-manager/"
find "$hm" -maxdepth 1 -type f \( -name '[0-9]*.embed.js' -o -name '*.woff' -o -name '*.woff2' -o -name '*.ttf' \) -exec cp {} "$dest/html-manager/" \;
cp "$tmp/requirejs-2.3.6/package/require.js" "$dest/require.js"
mj="$tmp/mathjax-3.2.2/package/es5"
cp "$mj/tex-chtml.js" "$dest/mathjax/"
mkdir -p "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex"
cp -r "$mj/output/chtml/fonts/woff-v2" "$dest/mathjax/output/chtml/fonts/"
cp -r "$mj/input/tex/extensions" "$dest/mathjax/input/tex/"
cp -r "$mj/ui" "$mj/a11y" "$dest/mathjax/"
touch "$dest/.complete"
echo "vendored JavaScript: $(du -sh "$dest" | cut -f1) in $dest"
