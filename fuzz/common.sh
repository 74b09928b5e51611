# Sourced by fuzz/build.sh and fuzz/tsan.sh: a copy of the package's Python sources in
# $1/site/pyzswap, beside which the caller puts an extension built with a sanitizer.
copy_sources() {
    local out=$1 f
    mkdir -p "$out/site"
    rm -rf "$out/site/pyzswap"
    (cd src && find pyzswap -name '*.py' -o -name '*.pyi' -o -name py.typed) | while read -r f; do
        mkdir -p "$out/site/$(dirname "$f")"
        cp "src/$f" "$out/site/$f"
    done
}
