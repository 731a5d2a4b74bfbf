#!/bin/sh
# install.sh -- turns Debian arm64 or Raspberry Pi OS Lite into the gridloop
# appliance: runtime packages, the program (from this tree or a .deb), the
# `gridloop` system user (group audio), the systemd units (the looper, the
# CPU governor), udev rules, /etc/gridloop.conf (only when there is none),
# the data directory /var/lib/gridloop, and the kernel command line.
#
#   board/install.sh [OPTIONS]                 as root, on the board itself
#   board/install.sh --root DIR [OPTIONS]      into DIR (an image, a test)
#
#   --root DIR     install into DIR instead of / (DESTDIR=DIR does the same).
#                  No packages are installed and no service is started there;
#                  works without root (file owners are then left alone).
#   --bin FILE     the gridloop binary to install (default: build/native/
#                  gridloop from `make`; for a Pi from a PC: build/arm64/
#                  gridloop from `make check-arm64`)
#   --deb FILE     install this package (scripts/build-deb) instead of the
#                  tree's files; with --root it is unpacked, not installed
#   --apply-boot   add `threadirqs` to the kernel command line in
#                  cmdline.txt (Raspberry Pi OS); without it, only printed
#   --no-packages  do not apt-get install the runtime packages
#   --dry-run      print every change instead of making it
#   -h, --help     this text
#
# Running it again changes nothing that is already right: files are only
# replaced when they differ, /etc/gridloop.conf is never overwritten, the
# user is created once, `threadirqs` is added once. Exit status 0 on success,
# 1 on a failure, 2 on a bad option.
set -eu

tree=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-}
bin=
deb=
apply_boot=no
packages=yes
dry=no

usage() { sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; }
die() {
	echo "install.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--root) [ $# -ge 2 ] || { usage >&2; exit 2; }; root=$2; shift ;;
	--root=*) root=${1#--root=} ;;
	--bin) [ $# -ge 2 ] || { usage >&2; exit 2; }; bin=$2; shift ;;
	--deb) [ $# -ge 2 ] || { usage >&2; exit 2; }; deb=$2; shift ;;
	--apply-boot) apply_boot=yes ;;
	--no-packages) packages=no ;;
	--dry-run) dry=yes ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

# Normalise the root: "" or "/" is the running system.
case "$root" in "" | /) root= ;; esac
if [ -n "$root" ]; then
	[ -d "$root" ] || [ "$dry" = yes ] || mkdir -p "$root"
	root=$(cd "$root" 2>/dev/null && pwd || echo "$root")
fi
R=$root # prefix for every path below; empty on the running system
where=${root:-/}
is_root=no
[ "$(id -u)" = 0 ] && is_root=yes
if [ -z "$root" ] && [ "$is_root" = no ] && [ "$dry" = no ]; then
	die "installing onto this system needs root (or --root DIR, or --dry-run)"
fi

# Runtime libraries of the program, and alsa-utils (aplay -l, alsactl).
runtime_packages="libasound2 libsndfile1 libinih1 libsystemd0 libcjson1 libsamplerate0 alsa-utils"

say() { echo "install.sh: $*"; }
# run CMD...: do it, or with --dry-run show it.
run() {
	if [ "$dry" = yes ]; then
		echo "  would run: $*"
	else
		"$@"
	fi
}
changed=0
# put SRC DST MODE: install a file unless DST already has that content and mode.
put() {
	if [ -f "$2" ] && cmp -s "$1" "$2" &&
		[ "$(stat -c %a "$2")" = "$3" ]; then
		return 0
	fi
	changed=$((changed + 1))
	if [ "$dry" = yes ]; then
		echo "  would install $2"
	else
		install -D -m "$3" "$1" "$2"
		echo "  installed $2"
	fi
}
# mkdirp DIR MODE
mkdirp() {
	[ -d "$1" ] && [ "$(stat -c %a "$1")" = "$2" ] && return 0
	if [ "$dry" = yes ]; then
		echo "  would create $1"
	else
		mkdir -p "$1"
		chmod "$2" "$1"
	fi
}

say "installing the gridloop appliance into $where$([ "$dry" = yes ] && echo ' (dry run: nothing changes)')"

# ---- 1. packages --------------------------------------------------------------
if [ -n "$deb" ]; then
	[ -f "$deb" ] || die "no such package: $deb"
	deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
fi
if [ -z "$root" ] && [ "$packages" = yes ]; then
	missing=
	for p in $runtime_packages; do
		case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
		*"ok installed"*) ;;
		*) missing="$missing $p" ;;
		esac
	done
	if [ -n "$deb" ]; then
		say "the package $deb, with what it depends on"
		# shellcheck disable=SC2086
		run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" $missing
	elif [ -n "$missing" ]; then
		say "runtime packages:$missing"
		run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		# shellcheck disable=SC2086
		run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
	fi
elif [ -n "$root" ]; then
	say "no packages into a --root; the board needs: $runtime_packages"
fi

# ---- 2. files ---------------------------------------------------------------
# Where they come from: this tree, or the unpacked .deb (under --root).
src_bin=''
src_profiles=$tree/board/profiles
src_alsa=$tree/board/alsa
src_units=$tree/board/systemd
src_udev=$tree/board/udev
src_sysusers=$tree/board/sysusers
src_conf=$tree/board/gridloop.conf
src_doc=''
unpacked=
files=yes
if [ -n "$deb" ] && [ -z "$root" ]; then
	files=no # the package put them there
elif [ -n "$deb" ]; then
	unpacked=$(mktemp -d "${TMPDIR:-/tmp}/gridloop-install.XXXXXX")
	trap 'rm -rf "$unpacked"' EXIT
	dpkg-deb -x "$deb" "$unpacked"
	src_bin=$unpacked/usr/bin/gridloop
	src_profiles=$unpacked/usr/share/gridloop/profiles
	src_alsa=$unpacked/usr/share/gridloop/alsa
	src_units=$unpacked/usr/lib/systemd/system
	src_udev=$unpacked/usr/lib/udev/rules.d
	src_sysusers=$unpacked/usr/lib/sysusers.d
	src_conf=$unpacked/etc/gridloop.conf
	src_doc=$unpacked/usr/share/doc/gridloop
else
	src_bin=${bin:-$tree/build/native/gridloop}
	[ -f "$src_bin" ] || die "no program at $src_bin: run \`make\` (or give --bin FILE or --deb FILE)"
fi

if [ "$files" = yes ]; then
	say "files"
	put "$src_bin" "$R/usr/bin/gridloop" 755
	bin_changed=$changed
	for f in "$src_profiles"/*.profile; do
		put "$f" "$R/usr/share/gridloop/profiles/$(basename "$f")" 644
	done
	for f in "$src_alsa"/*.conf; do
		put "$f" "$R/usr/share/gridloop/alsa/$(basename "$f")" 644
	done
	put "$src_units/gridloop.service" "$R/usr/lib/systemd/system/gridloop.service" 644
	put "$src_units/gridloop-cpufreq.service" "$R/usr/lib/systemd/system/gridloop-cpufreq.service" 644
	put "$src_udev/60-gridloop.rules" "$R/usr/lib/udev/rules.d/60-gridloop.rules" 644
	put "$src_sysusers/gridloop.conf" "$R/usr/lib/sysusers.d/gridloop.conf" 644
	if [ -n "$src_doc" ]; then
		for f in "$src_doc"/*; do
			[ -f "$f" ] && put "$f" "$R/usr/share/doc/gridloop/$(basename "$f")" 644
		done
		for f in "$src_doc"/docs/*.md; do
			[ -f "$f" ] && put "$f" "$R/usr/share/doc/gridloop/docs/$(basename "$f")" 644
		done
	else
		put "$tree/README.md" "$R/usr/share/doc/gridloop/README.md" 644
		for f in "$tree"/docs/*.md; do
			put "$f" "$R/usr/share/doc/gridloop/docs/$(basename "$f")" 644
		done
		put "$tree/board/alsa/README.md" "$R/usr/share/doc/gridloop/alsa-README.md" 644
		put "$tree/board/boot/config.txt.example" "$R/usr/share/doc/gridloop/config.txt.example" 644
	fi
	if [ -e "$R/etc/gridloop.conf" ]; then
		say "  $R/etc/gridloop.conf is there: kept as it is"
	else
		put "$src_conf" "$R/etc/gridloop.conf" 644
	fi
	[ "$changed" -eq 0 ] && say "  every file already up to date"
fi

# ---- 3. the user ------------------------------------------------------------
# gridloop, a system user in group audio (usr/lib/sysusers.d/gridloop.conf).
user_ok() {
	grep -q '^gridloop:' "$R/etc/passwd" 2>/dev/null &&
		grep -q '^audio:.*[:,]gridloop\(,\|$\)' "$R/etc/group" 2>/dev/null
}
if user_ok; then
	say "user gridloop (group audio): already there"
elif command -v systemd-sysusers >/dev/null; then
	say "user gridloop (group audio)"
	if [ -n "$root" ]; then
		run systemd-sysusers --root="$root" gridloop.conf
	else
		run systemd-sysusers gridloop.conf
	fi
elif [ -z "$root" ]; then
	say "user gridloop (group audio)"
	getent passwd gridloop >/dev/null ||
		run useradd --system --user-group --home-dir /var/lib/gridloop \
			--no-create-home --shell /usr/sbin/nologin --comment "gridloop live looper" gridloop
	run usermod -a -G audio gridloop
else
	die "systemd-sysusers is needed to create the user in $root"
fi

# ---- 4. the data directory --------------------------------------------------
# systemd makes and owns these too (StateDirectory=); made here so that they
# exist before the first start, e.g. to mount the data partition on them.
say "data directory /var/lib/gridloop"
for d in "" /session /exports /recordings; do
	mkdirp "$R/var/lib/gridloop$d" 755
done
if [ "$is_root" = yes ] && [ "$dry" = no ]; then
	ids=$(awk -F: '$1 == "gridloop" { print $3 ":" $4 }' "$R/etc/passwd" 2>/dev/null || true)
	[ -n "$ids" ] && chown -R "$ids" "$R/var/lib/gridloop"
fi

# ---- 5. services --------------------------------------------------------------
if command -v systemctl >/dev/null; then
	if [ -n "$root" ]; then
		say "enabling gridloop.service and gridloop-cpufreq.service in $root"
		if [ "$dry" = yes ]; then
			echo "  would run: systemctl --root=$root enable gridloop.service gridloop-cpufreq.service"
		else
			systemctl --root="$root" --quiet enable gridloop.service gridloop-cpufreq.service 2>&1 |
				grep -v 'non-existent unit' || true
		fi
	elif [ -d /run/systemd/system ]; then
		say "enabling and starting gridloop-cpufreq.service and gridloop.service"
		run systemctl daemon-reload
		run systemctl enable --quiet gridloop.service gridloop-cpufreq.service
		run systemctl restart gridloop-cpufreq.service
		if systemctl --quiet is-active gridloop.service && [ "${bin_changed:-0}" -gt 0 ]; then
			say "gridloop is running the old program: \`systemctl restart gridloop\` when the stage is quiet"
		else
			run systemctl start --no-block gridloop.service
		fi
	else
		say "enabling gridloop.service and gridloop-cpufreq.service (systemd is not running: no start)"
		run systemctl enable --quiet gridloop.service gridloop-cpufreq.service
	fi
else
	say "no systemctl: enable gridloop.service and gridloop-cpufreq.service by hand"
fi
if [ -z "$root" ] && command -v udevadm >/dev/null && [ -d /run/udev ]; then
	run udevadm control --reload-rules
	run udevadm trigger --subsystem-match=sound --action=change
fi

# ---- 6. boot: kernel command line and config.txt ----------------------------
# threadirqs: interrupt handlers run as threads the scheduler ranks below the
# SCHED_FIFO audio thread (and the sound card's own can be raised with chrt).
cmdline=
for c in "$R/boot/firmware/cmdline.txt" "$R/boot/cmdline.txt"; do
	if [ -f "$c" ]; then
		cmdline=$c
		break
	fi
done
if [ -n "$cmdline" ]; then
	if grep -qw threadirqs "$cmdline"; then
		say "kernel command line ($cmdline): threadirqs already there"
	elif [ "$apply_boot" = yes ]; then
		say "kernel command line ($cmdline): adding threadirqs (takes effect at the next boot)"
		[ -e "$cmdline.gridloop-orig" ] || run cp -p "$cmdline" "$cmdline.gridloop-orig"
		# cmdline.txt is one line: append to it.
		run sed -i '1s/[[:space:]]*$/ threadirqs/' "$cmdline"
	else
		say "recommended: add threadirqs to the kernel command line in $cmdline"
		say "  (board/install.sh --apply-boot does it)"
	fi
else
	say "recommended kernel command line: threadirqs (no cmdline.txt here;"
	say "  with GRUB: GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then update-grub;"
	say "  with Debian's raspi-firmware: see its README.Debian)"
fi
say "config.txt for an audio HAT (overlay, on-board audio off): see"
say "  /usr/share/doc/gridloop/config.txt.example and board/alsa/README.md"
say "done"
