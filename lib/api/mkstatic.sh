#!/bin/sh
# Make libnvbind.a for embedding from the internal archive: link all its objects into one
# relocatable object, then turn every hidden symbol (everything but the nvbind_* API) into a
# local one, so a program linking the archive sees only nvbind_* names and none of nvbind's
# internals can clash with its own.
# usage: mkstatic.sh LD OBJCOPY AR INPUT.a OUTPUT.a WORKDIR
set -eu
ld=$1 objcopy=$2 ar=$3 input=$4 output=$5 work=$6
rm -rf "$work"
mkdir -p "$work"
"$ld" -r --whole-archive "$input" -o "$work/nvbind.o"
"$objcopy" --localize-hidden "$work/nvbind.o"
rm -f "$output"
"$ar" rcs "$output" "$work/nvbind.o"
