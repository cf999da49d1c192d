"""Python side of scripts/build_bitstream.sh: named, resumable build steps, preflight checks,
Tcl configuration written from the io spec, and parsers for the vendor tools' reports."""
