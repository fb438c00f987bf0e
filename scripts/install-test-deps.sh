#!/bin/sh
# Installs the real programs mailsift's tests run against, from Debian's
# packages, when they are missing: Dovecot and the POP3 peers fetchmail and
# mpop; clamd with sigtool and ClamAV's harmless test files; rspamd and
# spamd; Python's gRPC for the example Python plugin. Run as root; without
# root it only reports what is missing.
set -eu

# command-or-file : package
need="
/usr/sbin/dovecot:dovecot-core
/usr/lib/dovecot/pop3:dovecot-pop3d
fetchmail:fetchmail
mpop:mpop
/usr/sbin/clamd:clamav-daemon
sigtool:clamav
/usr/share/clamav-testfiles/clam.exe:clamav-testfiles
/usr/lib/python3/dist-packages/grpc/__init__.py:python3-grpcio
/usr/lib/python3/dist-packages/google/protobuf/__init__.py:python3-protobuf
rspamd:rspamd
/usr/sbin/spamd:spamd
spamassassin:spamassassin
"

missing=""
for entry in $need; do
	what=${entry%%:*}
	pkg=${entry#*:}
	case $what in
	/*) [ -e "$what" ] && continue ;;
	*) command -v "$what" >/dev/null 2>&1 && continue ;;
	esac
	missing="$missing $pkg"
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-test-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 0
fi
echo "install-test-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The packages start system services (dovecot, clamd, rspamd, spamd); the
# tests run instances of their own, so keep the system ones from starting.
# A policy already in place is left as it is.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
