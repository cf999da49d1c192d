"""Bitstream build (scripts/build_bitstream.sh, `python -m hw.flow`): named, resumable steps
(flow), preflight checks (preflight), Tcl configuration written from the io spec and the YAML
(tclgen, tcl/), golden test vectors (vectors), Fire RTL export (fire), report parsers (reports)."""
