#!/bin/sh
# Guest half of tests/vm/link.sh: two gridloops with [sync] link = yes on
# one board, in one Ableton Link session over the guest's loopback network
# interface, each clicking its metronome into a substream pair of its own
# of the one snd-aloop card (the board's --hrtimer clock stream drives all
# of them), and one arecord recording both outputs side by side.
#
#   link-run.sh PERIOD SECONDS
#
# The wiring: A captures hw:Loopback,1,0 and plays into hw:Loopback,0,1;
# B captures hw:Loopback,1,2 and plays into hw:Loopback,0,3 (nothing plays
# into their inputs: the loopback gives them silence). arecord records
# hw:Loopback,1,1 (A's output) and hw:Loopback,1,3 (B's) through alsa-lib's
# multi plugin, whose two hw slaves are linked (snd_pcm_link) and started
# together: frame k of both channels left the two gridloops at the same
# instant. Link needs a multicast-capable interface with a route for its
# group (224.76.78.75): lo is made one (busybox ip: multicast on, a route
# for 224.0.0.0/4), and Link enables multicast loopback on a loopback
# address itself.
#
# 1. A starts (120 BPM), then B (100 BPM: it takes the session's tempo).
# 2. Once both log 1 peer (up to 15 s), 4 s more (link_heard's window of
#    3 s: the smallest delay reading is the one in use, then a bar line).
# 3. SIGUSR1 to both (statistics, the xruns before), arecord SECONDS into
#    /out/clicks.wav (FLOAT, 2 ch: A's left, B's left), SIGUSR1 again.
# 4. SIGTERM to both; their exit statistics end their logs.
# /out: a.log, b.log (gridloop's stderr, -v), rec.log, clicks.wav, net.txt,
# result.txt (key=value lines). Everything is time-limited.
set -u
period=$1
secs=$2
res=/out/result.txt
: >"$res"

ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
{
	ip link show lo
	ip route
} >/out/net.txt 2>&1

for h in a b; do
	tempo=120
	[ $h = a ] || tempo=100
	cat >$h.conf <<EOC
[audio]
rate = 48000
input_channels = 2
output_channels = 2
format = FLOAT

[looper]
tempo = $tempo
beats_per_bar = 4
metronome = yes

[sync]
link = yes
EOC
done
# The recorder's PCM (alsa.conf reads /etc/asound.conf).
cat >/etc/asound.conf <<'EOC'
pcm.glboth {
	type multi
	slaves.a.pcm "hw:Loopback,1,1"
	slaves.a.channels 2
	slaves.b.pcm "hw:Loopback,1,3"
	slaves.b.channels 2
	bindings.0 { slave a channel 0 }
	bindings.1 { slave b channel 0 }
}
EOC

# start NAME CAPTURE PLAYBACK STATUS: gridloop NAME in the background
# (pid in NAME_pid), until its capture stream runs (STATUS: its
# /proc/asound status file), up to 10 s.
start() {
	gridloop -c "$1.conf" -C "$2" -P "$3" -p "$period" -n 2 -v >"/out/$1.log" 2>&1 &
	eval "$1_pid=$!"
	n=0
	until grep -q RUNNING "$4" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 200 ]; then
			echo "$1_started=no" >>"$res"
			return 1
		fi
		sleep 0.05
	done
	echo "$1_started=yes" >>"$res"
}
a_pid=
b_pid=
start a hw:Loopback,1,0 hw:Loopback,0,1 /proc/asound/Loopback/pcm1c/sub0/status
sleep 1
start b hw:Loopback,1,2 hw:Loopback,0,3 /proc/asound/Loopback/pcm1c/sub2/status

# Both in the session: each logs "Link: 1 peer in the session".
n=0
while [ $n -lt 150 ]; do
	grep -q "Link: 1 peer in the session" /out/a.log && grep -q "Link: 1 peer in the session" /out/b.log && break
	sleep 0.1
	n=$((n + 1))
done
echo "joined_after_ds=$n" >>"$res"
sleep 4

for p in $a_pid $b_pid; do kill -USR1 "$p" 2>/dev/null; done
sleep 0.5
t0=$(cut -d' ' -f1 /proc/uptime)
timeout $((secs + 10)) chrt -f 70 arecord -D glboth -f FLOAT_LE -c 2 -r 48000 \
	--period-size="$period" --buffer-size=8192 -d "$secs" /out/clicks.wav >/out/rec.log 2>&1
echo "rec_status=$?" >>"$res"
t1=$(cut -d' ' -f1 /proc/uptime)
echo "rec_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$res"
for p in $a_pid $b_pid; do kill -USR1 "$p" 2>/dev/null; done
sleep 0.5

# SIGTERM, then SIGKILL for one still there 5 s later.
for p in $a_pid $b_pid; do kill -TERM "$p" 2>/dev/null; done
n=0
while { kill -0 "$a_pid" || kill -0 "$b_pid"; } 2>/dev/null && [ $n -lt 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
for h in a b; do
	eval "p=\$${h}_pid"
	kill -KILL "$p" 2>/dev/null && echo "gridloop $h did not stop on SIGTERM: killed" >&2
	wait "$p"
	echo "${h}_status=$?" >>"$res"
done
exit 0
