#!/usr/bin/env bash
exec bash "${RK_EXPLORE:-/tmp/explore.sh}"
