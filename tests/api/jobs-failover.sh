#!/usr/bin/env bash
# Background jobs with two servers on one PostgreSQL store (issue 7): the maintenance job
# runs on exactly one server; when that server is killed (kill -9, so nothing is released
# politely) the other takes the job within its retry interval, and a server that comes
# back does not take it again. Run through tests/pg-cluster.sh.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/servers.sh"

printf 'job_retry_interval = 1s\nmaintain_interval = 1h\n' >"$T/jobs.conf"

srv_start 1 --config "$T/jobs.conf"
ok $? "server 1 starts on the shared database"
srv_wait_log 1 '(M3040) job maintain: taken' 10 && srv_wait_log 1 '(M3044) job maintain done' 10
ok $? "server 1 takes the maintenance job and runs it"

srv_start 2 --config "$T/jobs.conf"
ok $? "server 2 starts with a copy of the CA"
srv_wait_log 2 '(M3042) job maintain: runs on another server' 10
ok $? "server 2 sees the job held by another server"
sleep 2
! grep -q '(M3040)' "$T/s2.log"
ok $? "server 2 does not run the job while server 1 holds it"

srv_api 2 GET /api/v1/hosts
[ "$STATUS" = 200 ]
ok $? "the admin token made by server 1 works on server 2 (tokens live in the database)"

start=$(date +%s%N)
srv_kill 1
srv_wait_log 2 '(M3040) job maintain: taken' 10
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
ok $rc "server 2 takes the job after server 1 is killed (in $took ms)"
[ "$took" -le 5000 ]
ok $? "within the 1 s retry interval and a margin ($took ms ≤ 5000 ms)"

srv_start 1 --config "$T/jobs.conf"
srv_wait_log 1 '(M3042) job maintain: runs on another server' 10 && ! grep -q '(M3040)' "$T/s1.log"
ok $? "server 1, back, leaves the job with server 2"
finish
