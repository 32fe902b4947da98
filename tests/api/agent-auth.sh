#!/usr/bin/env bash
. "$(dirname "$0")/../integ/lib.sh"
finish
