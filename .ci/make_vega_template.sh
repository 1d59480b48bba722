#!/usr/bin/env bash
# Build .dvc/vega-offline.html: a DVC plots HTML template with vega, vega-lite and vega-embed inlined,
# so `dvc plots show/diff` render without network access (DVC's default page loads them from a CDN).
#
# Why no {scripts} placeholder: dvc-render substitutes {scripts} with the CDN <script src=...> tags; leaving
# it out of the template is what keeps the page offline. {plot_divs} is the one placeholder DVC requires.
# Use it with `dvc plots show --html-template .dvc/vega-offline.html`, or set `plots.html_template` to
# `vega-offline.html` in .dvc/config (a relative path there is resolved against .dvc/).
#
# Usage: .ci/make_vega_template.sh [output]   (needs node/npm and the npm registry)
set -euo pipefail

# Pinned exact versions: the template is committed, so a rebuild must reproduce it byte for byte.
VEGA_VERSION="${VEGA_VERSION:-5.33.1}"
VEGA_LITE_VERSION="${VEGA_LITE_VERSION:-5.23.0}"
VEGA_EMBED_VERSION="${VEGA_EMBED_VERSION:-6.29.0}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="${1:-$repo_root/.dvc/vega-offline.html}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "vega@$VEGA_VERSION" "vega-lite@$VEGA_LITE_VERSION" "vega-embed@$VEGA_EMBED_VERSION" >/dev/null
for tarball in vega-*.tgz; do
  name="${tarball%.tgz}"
  mkdir -p "$name"
  tar -xzf "$tarball" -C "$name" --strip-components=1
done

bundle() {  # the self-contained UMD build of one package (defines a browser global)
  local file="$work/$1/build/$2"
  [[ -s "$file" ]] || { echo "missing $file: did the package layout change? adjust make_vega_template.sh" >&2; exit 1; }
  # A literal </script> inside inlined code would close the tag early; escape it.
  sed 's#</script>#<\\/script>#g' "$file"
}

tmp_out="$(mktemp "$(dirname "$output")/.vega-offline.XXXXXX")"
{
  cat <<HTML
<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot (offline)</title>
    <!-- vega@$VEGA_VERSION, vega-lite@$VEGA_LITE_VERSION, vega-embed@$VEGA_EMBED_VERSION inlined by .ci/make_vega_template.sh -->
    <script type="text/javascript">
HTML
  bundle "vega-$VEGA_VERSION" vega.min.js
  printf '\n    </script>\n    <script type="text/javascript">\n'
  bundle "vega-lite-$VEGA_LITE_VERSION" vega-lite.min.js
  printf '\n    </script>\n    <script type="text/javascript">\n'
  bundle "vega-embed-$VEGA_EMBED_VERSION" vega-embed.min.js
  cat <<'HTML'

    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
HTML
} >"$tmp_out"
chmod 644 "$tmp_out"        # mktemp creates 0600; the template is a committed, readable file
mv "$tmp_out" "$output"   # atomic: an interrupted build never leaves a half-written template
echo "wrote $output ($(wc -c <"$output") bytes)"
