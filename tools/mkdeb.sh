#!/bin/sh
# tools/mkdeb.sh DIR VERSION ARCH OUT.deb: turn DIR/debian/kvmheat (what
# `make install PREFIX=/usr DESTDIR=DIR/debian/kvmheat` put down; the
# layout dpkg-shlibdeps expects) into a Debian binary package with
# dpkg-deb, as Debian policy wants it: a stripped binary, compressed manual
# pages and changelog, a copyright file, md5sums, and Depends computed by
# dpkg-shlibdeps from the libraries the binary really links.
set -eu
dir=$(cd "$1" && pwd) version=$2 arch=$3 out=$4
root=$dir/debian/kvmheat
top=$(cd "$(dirname "$0")/.." && pwd)
pkg=$top/debian
doc=$root/usr/share/doc/kvmheat
bin=$root/usr/sbin/kvmheat

clv=$(sed -n '1s/^kvmheat (\([^)]*\)).*/\1/p' "$pkg/changelog")
if [ "$clv" != "$version" ]; then
	echo "mkdeb: debian/changelog is at $clv, the source at $version" >&2
	exit 1
fi
# debug info would go to a -dbgsym package; this one ships without it
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$bin"
gzip -9n "$root"/usr/share/man/man8/*.8
install -m 0644 "$pkg/copyright" "$doc/copyright"
gzip -9nc "$pkg/changelog" > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# dpkg-shlibdeps reads the package list from debian/control and finds the
# package root by its DEBIAN directory
mkdir -p "$root/DEBIAN"
printf 'Source: kvmheat\n\nPackage: kvmheat\nArchitecture: any\n' > "$dir/debian/control"
deps=$(cd "$dir" && dpkg-shlibdeps -O debian/kvmheat/usr/sbin/kvmheat | sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --apparent-size "$root/usr" | cut -f1)

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$deps/" \
	-e "s/@SIZE@/$size/" "$pkg/control.in" > "$root/DEBIAN/control"
(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" > /dev/null
