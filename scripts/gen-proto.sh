#!/bin/sh
# Regenerates the code of the plugin contract, which is committed so that
# neither builds nor plugin authors need the generators:
#   - Go, from plugins/proto/, with protoc-gen-go and protoc-gen-go-grpc at
#     the versions go.mod pins as tools;
#   - Python, for examples/plugins/python, with grpc_python_plugin: the
#     contract, gRPC health (from Debian's grpc-proto) and go-plugin's
#     controller service (from the go-plugin module in go.mod), so a Python
#     plugin shuts down when mailsift asks instead of being killed.
# Needs Debian's protobuf-compiler, protobuf-compiler-grpc and grpc-proto.
set -eu
cd "$(dirname "$0")/.."

for tool in protoc:protobuf-compiler grpc_python_plugin:protobuf-compiler-grpc; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || {
		echo "gen-proto: ${tool%%:*} not found: apt-get install -y ${tool#*:}" >&2
		exit 1
	}
done
health=/usr/share/grpc-proto/grpc/health/v1/health.proto
[ -e "$health" ] || { echo "gen-proto: $health not found: apt-get install -y grpc-proto" >&2; exit 1; }

gen_go=$(go tool -n protoc-gen-go)
gen_go_grpc=$(go tool -n protoc-gen-go-grpc)
contract=mailsift/plugin/v1/plugin.proto

protoc -I plugins/proto \
	--plugin=protoc-gen-go="$gen_go" --go_out=plugins/proto --go_opt=paths=source_relative \
	--plugin=protoc-gen-go-grpc="$gen_go_grpc" --go-grpc_out=plugins/proto --go-grpc_opt=paths=source_relative \
	"$contract"

# The health and controller protos are copied under names of our own: a
# generated "grpc" package would shadow the grpc module itself.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pluginhealth" "$tmp/goplugin"
cp "$health" "$tmp/pluginhealth/health.proto"
cp "$(go list -m -f '{{.Dir}}' github.com/hashicorp/go-plugin)/internal/plugin/grpc_controller.proto" "$tmp/goplugin/controller.proto"

py=examples/plugins/python/gen
rm -rf "$py"
mkdir -p "$py"
protoc -I plugins/proto -I "$tmp" \
	--python_out="$py" --grpc_out="$py" --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
	"$contract" pluginhealth/health.proto goplugin/controller.proto
