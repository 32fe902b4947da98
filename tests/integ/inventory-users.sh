#!/usr/bin/env bash
# The users section against ground truth: the fixtures' accounts, password states, admin
# members and last logins are what their files say (an empty password is always seen, a
# hash never shown); on this machine the accounts are exactly /etc/passwd's and, as root,
# the password states and ages agree with `passwd -S -a`; without root the shadow file is
# an error and the rest is still there.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
acct() { jq -c --arg n "$2" '[.users.accounts[] | select(.name == $n)][0]' "$1"; }
val() { jq -r "$2" "$1"; }

# shadow's own view, `passwd -S -a` (NAME L|NP|P YYYY-MM-DD MIN MAX …), against ours, for the
# accounts whose password lives in shadow. passwd -R chroots, so this needs root.
compare_passwd_s() { # root, inventory.json, what
	passwd -R "$1" -S -a 2>/dev/null | awk '{ print $1, $2, $3, $5 }' | sort >"$tmp/theirs"
	jq -r '.users.accounts[] | select(.password_source == "shadow") |
		[ .name,
		  ({"locked": "L", "empty": "NP", "set": "P", "invalid": "P"}[.password_state] // "?"),
		  (.password_last_change //
		   (if .password_change_required then "1970-01-01" else "?" end)),
		  (.password_max_days // -1 | tostring) ] | join(" ")' "$2" | sort >"$tmp/ours"
	if [ -s "$tmp/theirs" ] && cmp -s "$tmp/ours" "$tmp/theirs"; then
		ok 0 "$3: password states and ages agree with passwd -S -a ($(wc -l <"$tmp/ours") accounts)"
	else
		ok 1 "$3: password states and ages agree with passwd -S -a"
		diff "$tmp/ours" "$tmp/theirs" | head -10 | while IFS= read -r l; do diag "$l"; done
	fi
}

# --- laptop fixture -----------------------------------------------------------------------
L=$FIXTURES/laptop
"$AGENT" inventory --root "$L" >"$tmp/laptop.json"
ok $? "laptop fixture: inventory succeeds"
[ "$(val "$tmp/laptop.json" '.users.empty_password_accounts | join(",")')" = guest ]
ok $? "laptop: guest, and only guest, has an empty password"
[ "$(acct "$tmp/laptop.json" guest | jq -r .password_state)" = empty ]
ok $? "laptop: guest's password state is empty"
[ "$(val "$tmp/laptop.json" '.users.admin_members.sudo | join(",")')" = opsbot,taro ]
ok $? "laptop: sudo members: taro (listed) and opsbot (primary group)"
[ "$(acct "$tmp/laptop.json" taro | jq -r '.admin')" = true ]
ok $? "laptop: taro is an administrator"
[ "$(acct "$tmp/laptop.json" taro | jq -r '.password_state + " " + .password_algorithm')" = \
	"set yescrypt" ]
ok $? "laptop: taro's password: set, yescrypt"
[ "$(acct "$tmp/laptop.json" opsbot | jq -r .password_state)" = locked ]
ok $? "laptop: a '!'-prefixed hash is locked"
! grep -qE 'FIXTURE|NOTAREALHASH|\$(y|6)\$' <("$AGENT" inventory --root "$L" --format text) "$tmp/laptop.json"
ok $? "laptop: no password hash in the output (json or text)"
[ "$(acct "$tmp/laptop.json" taro |
	jq -r '.last_login | "\(.time) \(.line) \(.host) \(.source)"')" = \
	"1714638600 pts/0 192.0.2.10 wtmp" ]
ok $? "laptop: taro's last login is the newest wtmp USER_PROCESS (newer than lastlog)"
[ "$(acct "$tmp/laptop.json" hanako |
	jq -r '.last_login | "\(.time) \(.line) \(.host) \(.source)"')" = \
	"1713603600 pts/1 198.51.100.7 lastlog" ]
ok $? "laptop: hanako's last login from lastlog (no wtmp record)"
[ "$(acct "$tmp/laptop.json" root | jq -r .last_login)" = null ]
ok $? "laptop: root never logged in"
[ "$(acct "$tmp/laptop.json" ghost)" = null ]
ok $? "laptop: a wtmp user without an account adds no account"
[ "$(val "$tmp/laptop.json" '[.users.accounts[] | select(.system == false) | .name] | join(",")')" = \
	taro,hanako,guest,opsbot,olduser ]
ok $? "laptop: people (UID_MIN..UID_MAX) versus system accounts"
[ "$(acct "$tmp/laptop.json" clamav | jq -r .login_shell)" = false ]
ok $? "laptop: /bin/false is no login shell"
[ "$(acct "$tmp/laptop.json" olduser | jq -r '"\(.password_change_required) \(.account_expires)"')" = \
	"true 2024-06-26" ]
ok $? "laptop: forced password change and account expiry"
[ "$(val "$tmp/laptop.json" '.users.accounts | length')" = "$(wc -l <"$L/etc/passwd")" ]
ok $? "laptop: one account per passwd line"
[ "$(val "$tmp/laptop.json" '[.users.groups[] | select(.name == "sudo")][0].members | join(",")')" = taro ]
ok $? "laptop: group members as listed in /etc/group"
[ "$(val "$tmp/laptop.json" '.users.errors // [] | length')" = 0 ]
ok $? "laptop: no errors in the users section"
if [ "$(id -u)" -eq 0 ] && command -v passwd >/dev/null; then
	compare_passwd_s "$L" "$tmp/laptop.json" "laptop"
fi

# --- vm fixture: no shadow ----------------------------------------------------------------
"$AGENT" inventory --root "$FIXTURES/vm" >"$tmp/vm.json"
ok $? "vm fixture: inventory succeeds"
val "$tmp/vm.json" '.users.errors[].source' | grep -qx /etc/shadow
ok $? "vm: the missing shadow file is an error"
[ "$(acct "$tmp/vm.json" debian | jq -r '.password_state')" = unknown ]
ok $? "vm: password states are unknown, not guessed"
[ "$(val "$tmp/vm.json" '.users.admin_members.sudo | join(",")')" = debian ]
ok $? "vm: the accounts and admin members are still there"

# --- broken fixture -----------------------------------------------------------------------
"$AGENT" inventory --root "$FIXTURES/broken" >"$tmp/broken.json" 2>/dev/null
ok $? "broken fixture: inventory succeeds"
[ "$(val "$tmp/broken.json" '[.users.accounts[].name] | join(",")')" = \
	root,taro,legacy,hashy,indented,crlf,last-no-newline ]
ok $? "broken: every parseable account is listed, garbage lines are not"
[ "$(acct "$tmp/broken.json" taro | jq -r '"\(.uid) \(.gecos)"')" = "1000 null" ]
ok $? "broken: a junk GECOS is null and its account still listed; first of two entries wins"
[ "$(val "$tmp/broken.json" '.users.empty_password_accounts | join(",")')" = legacy ]
ok $? "broken: an empty password field in passwd itself is found"
for src in /etc/passwd /etc/shadow /etc/group /var/log/wtmp /var/log/lastlog; do
	val "$tmp/broken.json" '.users.errors[].source' | grep -qx "$src"
	ok $? "broken: $src reported"
done
[ "$(acct "$tmp/broken.json" taro | jq -r '.last_login.line')" = tty1 ]
ok $? "broken: whole wtmp records before the cut are used"
! grep -q 'defghijk' "$tmp/broken.json"
ok $? "broken: a hash held in passwd is not shown"

# --- this machine -------------------------------------------------------------------------
"$AGENT" inventory >"$tmp/here.json" 2>/dev/null
val "$tmp/here.json" '.users.accounts[].name' | sort >"$tmp/ours"
grep -vE '^[[:space:]]*(#|$)' /etc/passwd | cut -d: -f1 | sort -u >"$tmp/theirs"
cmp -s "$tmp/ours" "$tmp/theirs"
ok $? "this machine: accounts are /etc/passwd's ($(wc -l <"$tmp/theirs") names)"
if [ "$(id -u)" -eq 0 ] && command -v passwd >/dev/null; then
	compare_passwd_s / "$tmp/here.json" "this machine"
	if command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups \
		test -x "$AGENT" 2>/dev/null; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$AGENT" inventory \
			>"$tmp/nobody.json" 2>/dev/null
		ok $? "this machine as nobody: the inventory still succeeds"
		val "$tmp/nobody.json" '.users.errors[] | select(.source == "/etc/shadow") | .message' |
			grep -q "root only"
		ok $? "as nobody: shadow is reported readable by root only"
		[ "$(val "$tmp/nobody.json" '.users.accounts | length')" = \
			"$(val "$tmp/here.json" '.users.accounts | length')" ]
		ok $? "as nobody: every account is still listed"
	else
		diag "cannot run the agent as nobody here: unprivileged checks skipped"
	fi
else
	diag "not root: passwd -S comparison skipped"
fi
finish
