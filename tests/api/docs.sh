#!/usr/bin/env bash
# The server's documentation keeps up with the code: every admin route is in docs/api.md
# and docs/openapi.json, every agent route in docs/protocol.md, every message id the
# server logs in docs/messages.md, and every configuration key in docs/server.md and the
# example configuration.
. "$(dirname "$0")/../integ/lib.sh"
need_cmd python3

routes=$(grep -hoE '\{"(GET|POST|DELETE|PUT)", "/[^"]*"' "$SRC"/server/api_*.c |
	sed -E 's/\{"([A-Z]+)", "([^"]*)"/\1 \2/')
[ "$(wc -l <<<"$routes")" -ge 15 ]
ok $? "found the route tables ($(wc -l <<<"$routes") routes)"
while read -r method path; do
	case $path in
	/api/*)
		grep -qF "\`$method $path\`" "$SRC/docs/api.md" ||
			grep -qF "$method $path\`" "$SRC/docs/api.md"
		ok $? "docs/api.md documents $method $path"
		python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert sys.argv[2].lower() in d["paths"][sys.argv[3]]' "$SRC/docs/openapi.json" "$method" "$path"
		ok $? "docs/openapi.json describes $method $path"
		;;
	/agent/*)
		grep -qF "\`$method $path\`" "$SRC/docs/protocol.md"
		ok $? "docs/protocol.md documents $method $path"
		;;
	esac
done <<<"$routes"

for id in $(grep -hoE '\(M[345][0-9]{3}\)' "$SRC"/server/*.c | tr -d '()' | sort -u); do
	grep -q "^| $id |" "$SRC/docs/messages.md"
	ok $? "message $id is in docs/messages.md"
done

for key in $(grep -oE '^	S\("[a-z_]+"' "$SRC/server/config.c" | sed 's/.*"\(.*\)"/\1/'); do
	grep -qF "\`$key\`" "$SRC/docs/server.md"
	ok $? "setting $key is in docs/server.md"
	grep -qE "^#?$key = " "$SRC/dist/mamori-server.conf"
	ok $? "and in dist/mamori-server.conf"
done
finish
