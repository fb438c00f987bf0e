#!/bin/sh
# ingest.sh: POP3 ingest beside the established retrievers, in one run.
#
# A private Dovecot on loopback (plain POP3 and implicit TLS, its own config
# in a temp dir) serves mailboxes of 1,000 x 10 KB and 200 x 500 KB. Timed,
# each fetching every message, median of REPS repetitions, rounds
# interleaved so that load from elsewhere touches every peer alike:
#
#   raw           a minimal pipelined RETR loop in Go that discards the
#                 data: the ceiling of what Dovecot and loopback deliver
#   mailsift      ingest into JetStream (embedded NATS, file storage, every
#                 message acknowledged and its UIDL state written,
#                 delete: never), a fresh store each repetition; the poll
#   mailsift-run  the same as `mailsift run --roles ingest --once`, a whole
#                 process: start, NATS, stream set-up, poll
#   fetchmail     keep mode, UIDL, one `cat > file` per message
#   mpop          keep mode, delivery to a Maildir
#
# Prints a Markdown table per mailbox: msg/s, MB/s, the share of the raw
# loop's rate, and CPU seconds of each peer and of Dovecot.
#
# Usage:  bench/ingest.sh [ingestbench flags]   (make bench-ingest)
#         e.g. bench/ingest.sh -sets 1000x10 -modes plain -peers raw,mailsift
# Env:    REPS=5    repetitions per peer (at least 3)
#         NICE=-10  run everything (Dovecot included) at this priority, to
#                   measure on a machine that others load too; say so when
#                   you quote the figures
# Needs:  root; Go; dovecot-core, dovecot-pop3d, fetchmail, mpop (installed
#         from Debian by scripts/install-test-deps.sh when missing)
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "ingest.sh: run as root: Dovecot switches to its service users and the peers run as nobody" >&2
	exit 1
fi
./scripts/install-test-deps.sh
tmp=$(mktemp -d /tmp/mailsift-bench-ingest.XXXXXX)
chmod 755 "$tmp" # the peers run as nobody and must reach their directories inside
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mailsift" ./cmd/mailsift
go build -o "$tmp/ingestbench" ./bench/ingestbench

echo "# machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(go version | cut -d' ' -f3)"
echo "# command: bench/ingest.sh $*${NICE:+ (NICE=$NICE)}; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
set -- -mailsift "$tmp/mailsift" -dir "$tmp" -reps "${REPS:-5}" "$@"
if [ -n "${NICE:-}" ]; then
	nice -n "$NICE" "$tmp/ingestbench" "$@"
else
	"$tmp/ingestbench" "$@"
fi
echo
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
