#!/bin/sh
# Installs the real servers mailsift's tests run against (Dovecot, the POP3
# peers fetchmail and mpop), from Debian's packages, when they are missing.
# Run as root; without root it only reports what is missing.
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
# Dovecot's package starts a system service; the tests run their own
# instance, so keep the system one from starting where possible.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends $missing >/dev/null
