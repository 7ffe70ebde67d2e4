#!/bin/sh
# Runs Debian's pd so that it gets SIGTERM when the test that started it
# dies (a crash, a ctest timeout): the Pd test passes this as pd_path.
exec setpriv --pdeathsig TERM pd "$@"
